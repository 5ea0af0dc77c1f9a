"""What the app's lifespan builds and the routes use: clients, stores and the auth service."""

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import AuditLog
from gateway.auth_service import AuthService
from gateway.plans import PlanCache
from gateway.session_lists import SessionLists
from gateway.sessions import SessionStore
from gateway.settings import GatewaySettings
from gateway.tokens import TokenStore
from shared.clock import Clock
from shared.rpc import RpcClient


@dataclass
class Runtime:
    settings: GatewaySettings
    clock: Clock
    engine: AsyncEngine
    redis: Redis
    stream_redis: Redis  # blocking stream reads only (gateway.stream): their own connections
    broker: RabbitBroker
    rpc: RpcClient
    sessions: SessionStore
    plans: PlanCache
    auth: AuthService
    session_lists: SessionLists
    tokens: TokenStore
    audit: AuditLog
