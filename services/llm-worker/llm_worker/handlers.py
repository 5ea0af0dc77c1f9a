"""The worker's broker face: generate-reply and generate-title commands, and stop requests."""

from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitRouter

from llm_worker.service import ReplyService
from shared import topology
from shared.consumers import current_delivery, redeliver_on_error
from shared.contracts.llm import GenerateReply, GenerateTitle, StopRequested


def attempt_of(delivery: AbstractIncomingMessage) -> int:
    """1 for a first delivery; quorum queues count redeliveries in `x-delivery-count`."""
    headers = delivery.headers or {}
    try:
        count = int(headers.get("x-delivery-count") or 0)
    except (TypeError, ValueError):
        count = 0
    if count == 0 and delivery.redelivered:
        count = 1
    return count + 1


def build_router(service: ReplyService, instance_id: str) -> RabbitRouter:
    router = RabbitRouter()

    # The command is acked only when this returns, i.e. after the final event was confirmed; a
    # worker killed mid-reply leaves it unacked, and another worker produces the reply.
    @router.subscriber(topology.LLM_GENERATE_REPLY, exchange=topology.COMMANDS)
    @redeliver_on_error(topology.LLM_GENERATE_REPLY.name)
    async def handle_generate_reply(command: GenerateReply) -> None:
        await service.generate_reply(command, attempt=attempt_of(current_delivery()))

    @router.subscriber(topology.LLM_GENERATE_TITLE, exchange=topology.COMMANDS)
    @redeliver_on_error(topology.LLM_GENERATE_TITLE.name)
    async def handle_generate_title(command: GenerateTitle) -> None:
        await service.generate_title(command)

    # Every worker has its own queue, so a stop reaches whichever one holds the generation.
    @router.subscriber(topology.worker_control_queue(instance_id), exchange=topology.EVENTS)
    async def on_reply_stop_requested(event: StopRequested) -> None:
        service.request_stop(event.exchange_id)

    return router
