"""Chat's broker face: RPC responders and reply-event consumers, thin over ChatService."""

from faststream.rabbit import RabbitRouter

from chat.admin import CatalogAdmin
from chat.service import ChatService
from shared import topology
from shared.consumers import redeliver_on_error
from shared.contracts import chat as c
from shared.contracts.llm import ReplyCompleted, ReplyFailed, TitleGenerated
from shared.rpc import responder


def build_router(service: ChatService, admin: CatalogAdmin) -> RabbitRouter:
    router = RabbitRouter()
    Q = c.RpcNames
    A = c.AdminRpcNames

    @responder(router, A.LIST_MODELS)
    async def answer_admin_list_models(q: c.AdminList) -> list[c.AdminAiModel]:
        return await admin.list_models()

    @responder(router, A.GET_MODEL)
    async def answer_admin_get_model(q: c.AdminItem) -> c.AdminAiModel:
        return await admin.get_model(q)

    @responder(router, A.SAVE_MODEL)
    async def answer_admin_save_model(q: c.SaveAiModel) -> c.AdminAiModel:
        saved = await admin.save_model(q)
        service.catalog.clear()  # the send path must not use the old rows
        return saved

    @responder(router, A.DELETE_MODEL)
    async def answer_admin_delete_model(q: c.AdminItem) -> None:
        await admin.delete_model(q)
        service.catalog.clear()

    @responder(router, A.SYNC_MODELS)
    async def answer_admin_sync_models(q: c.AdminList) -> c.ModelsSynced:
        synced = await admin.sync_from_openrouter()
        service.catalog.clear()
        return synced

    @responder(router, A.LIST_CHATBOTS)
    async def answer_admin_list_chatbots(q: c.AdminList) -> list[c.AdminChatbot]:
        return await admin.list_chatbots()

    @responder(router, A.GET_CHATBOT)
    async def answer_admin_get_chatbot(q: c.AdminItem) -> c.AdminChatbot:
        return await admin.get_chatbot(q)

    @responder(router, A.SAVE_CHATBOT)
    async def answer_admin_save_chatbot(q: c.SaveChatbot) -> c.AdminChatbot:
        saved = await admin.save_chatbot(q)
        service.catalog.clear()  # the send path must not use the old rows
        return saved

    @responder(router, A.DELETE_CHATBOT)
    async def answer_admin_delete_chatbot(q: c.AdminItem) -> None:
        await admin.delete_chatbot(q)
        service.catalog.clear()

    @responder(router, Q.PING)
    async def answer_ping(body: dict) -> dict:
        return {"pong": True}

    @responder(router, Q.LIST_CHATBOTS)
    async def answer_list_chatbots(q: c.CatalogQuery) -> list[c.ChatbotOut]:
        return await service.list_chatbots(q)

    @responder(router, Q.GET_CHATBOT)
    async def answer_get_chatbot(q: c.CatalogItemQuery) -> c.ChatbotOut:
        return await service.get_chatbot(q)

    @responder(router, Q.LIST_MODELS)
    async def answer_list_models(q: c.CatalogQuery) -> list[c.AiModelOut]:
        return await service.list_models(q)

    @responder(router, Q.GET_MODEL)
    async def answer_get_model(q: c.CatalogItemQuery) -> c.AiModelOut:
        return await service.get_model(q)

    @responder(router, Q.CREATE_SESSION)
    async def answer_create_session(q: c.CreateSession) -> c.SessionOut:
        return await service.create_session(q)

    @responder(router, Q.LIST_SESSIONS)
    async def answer_list_sessions(q: c.ListSessions) -> c.SessionPage:
        return await service.list_sessions(q)

    @responder(router, Q.GET_SESSION)
    async def answer_get_session(q: c.SessionQuery) -> c.SessionOut:
        return await service.get_session(q)

    @responder(router, Q.UPDATE_SESSION)
    async def answer_update_session(q: c.UpdateSession) -> c.SessionOut:
        return await service.update_session(q)

    @responder(router, Q.DELETE_SESSION)
    async def answer_delete_session(q: c.SessionQuery) -> None:
        await service.delete_session(q)

    @responder(router, Q.LIST_MESSAGES, result=c.MessagePage)
    async def answer_list_messages(q: c.ListMessages) -> dict:  # a MessagePage's JSON, built from rows
        return await service.message_page_wire(q)

    @responder(router, Q.RUN_EXCHANGE)
    async def answer_run_exchange(q: c.RunExchange) -> c.ExchangeStored:
        return await service.run_exchange(q)

    @responder(router, Q.ABANDON_EXCHANGE)
    async def answer_abandon_exchange(q: c.AbandonExchange) -> c.ExchangeStored | None:
        return await service.abandon_exchange(q)

    @responder(router, Q.STOP_REPLY)
    async def answer_stop_reply(q: c.SessionQuery) -> None:
        await service.stop_reply(q)

    @router.subscriber(topology.CHAT_REPLY_COMPLETED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.CHAT_REPLY_COMPLETED.name)
    async def on_reply_completed(event: ReplyCompleted) -> None:
        await service.on_reply_completed(event)

    @router.subscriber(topology.CHAT_REPLY_FAILED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.CHAT_REPLY_FAILED.name)
    async def on_reply_failed(event: ReplyFailed) -> None:
        await service.on_reply_failed(event)

    @router.subscriber(topology.CHAT_TITLE_GENERATED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.CHAT_TITLE_GENERATED.name)
    async def on_title_generated(event: TitleGenerated) -> None:
        await service.on_title_generated(event)

    return router
