"""Chat's broker face: RPC responders and reply-event consumers, thin over ChatService."""

from faststream.rabbit import RabbitRouter

from chat.admin import CatalogAdmin
from chat.catalog_reads import CatalogReads
from chat.exchanges import Exchanges
from chat.reply_events import ReplyEvents
from chat.service import ChatService
from chat.sessions import Sessions
from shared import topology
from shared.contracts import chat as c
from shared.delegates import answer_with, consume_with
from shared.rpc import responder


def build_router(service: ChatService, admin: CatalogAdmin) -> RabbitRouter:
    router = RabbitRouter()
    Q = c.RpcNames
    A = c.AdminRpcNames

    answer_with(router, lambda: admin, {A.GET_MODEL: CatalogAdmin.get_model, A.GET_CHATBOT: CatalogAdmin.get_chatbot})
    answer_with(router, lambda: admin, {
        A.SAVE_MODEL: CatalogAdmin.save_model,
        A.DELETE_MODEL: CatalogAdmin.delete_model,
        A.SAVE_CHATBOT: CatalogAdmin.save_chatbot,
        A.DELETE_CHATBOT: CatalogAdmin.delete_chatbot,
    }, then=lambda: service.catalog.clear())  # the send path must not use the old rows

    @responder(router, A.LIST_MODELS)
    async def answer_admin_list_models(q: c.AdminList) -> list[c.AdminAiModel]:
        return await admin.list_models()

    @responder(router, A.LIST_CHATBOTS)
    async def answer_admin_list_chatbots(q: c.AdminList) -> list[c.AdminChatbot]:
        return await admin.list_chatbots()

    @responder(router, A.SYNC_MODELS)
    async def answer_admin_sync_models(q: c.AdminList) -> c.ModelsSynced:
        synced = await admin.sync_from_openrouter()
        service.catalog.clear()
        return synced

    @responder(router, Q.PING)
    async def answer_ping(body: dict) -> dict:
        return {"pong": True}

    answer_with(router, lambda: service.catalog_reads, {
        Q.LIST_CHATBOTS: CatalogReads.list_chatbots,
        Q.GET_CHATBOT: CatalogReads.get_chatbot,
        Q.LIST_MODELS: CatalogReads.list_models,
        Q.GET_MODEL: CatalogReads.get_model,
    })
    answer_with(router, lambda: service.sessions, {
        Q.CREATE_SESSION: Sessions.create_session,
        Q.LIST_SESSIONS: Sessions.list_sessions,
        Q.GET_SESSION: Sessions.get_session,
        Q.UPDATE_SESSION: Sessions.update_session,
        Q.DELETE_SESSION: Sessions.delete_session,
    })
    answer_with(router, lambda: service.exchanges, {
        Q.RUN_EXCHANGE: Exchanges.run_exchange,
        Q.ABANDON_EXCHANGE: Exchanges.abandon_exchange,
        Q.STOP_REPLY: Exchanges.stop_reply,
    })

    @responder(router, Q.LIST_MESSAGES, result=c.MessagePage)
    async def answer_list_messages(q: c.ListMessages) -> dict:  # a MessagePage's JSON, built from rows
        return await service.message_page_wire(q)

    consume_with(router, lambda: service.reply_events, {
        topology.CHAT_REPLY_COMPLETED: ReplyEvents.on_reply_completed,
        topology.CHAT_REPLY_FAILED: ReplyEvents.on_reply_failed,
        topology.CHAT_TITLE_GENERATED: ReplyEvents.on_title_generated,
    })

    return router
