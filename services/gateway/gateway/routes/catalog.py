"""The caller's usable chatbots and AI models: /api/chatbots/, /api/ai-models/."""


from fastapi import APIRouter, Request

from gateway import chat_schemas as s
from gateway.backends import Rpc
from gateway.deps import CurrentUser, Plans
from gateway.pagination import Pages, paged_list
from gateway.schemas import PathId
from shared.contracts import chat as c

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/chatbots/", response_model=list[s.Chatbot] | dict, summary="Chatbots your plan allows")
async def list_chatbots(request: Request, user: CurrentUser, rpc: Rpc, plans: Plans, params: Pages):
    plan_id = await plans.plan_id(user.id)
    return await paged_list(request, params, lambda: rpc.call(c.RpcNames.LIST_CHATBOTS, c.CatalogQuery(plan_id=plan_id)))


@router.get("/chatbots/{chatbot_id}/", response_model=s.Chatbot, summary="One chatbot your plan allows")
async def get_chatbot(chatbot_id: PathId, user: CurrentUser, rpc: Rpc, plans: Plans):
    plan_id = await plans.plan_id(user.id)
    return await rpc.call(c.RpcNames.GET_CHATBOT, c.CatalogItemQuery(plan_id=plan_id, item_id=chatbot_id))


@router.get("/ai-models/", response_model=list[s.AiModel] | dict, summary="AI models your plan allows")
async def list_models(request: Request, user: CurrentUser, rpc: Rpc, plans: Plans, params: Pages):
    plan_id = await plans.plan_id(user.id)
    return await paged_list(request, params, lambda: rpc.call(c.RpcNames.LIST_MODELS, c.CatalogQuery(plan_id=plan_id)))


@router.get("/ai-models/{model_pk}/", response_model=s.AiModel, summary="One AI model your plan allows")
async def get_model(model_pk: PathId, user: CurrentUser, rpc: Rpc, plans: Plans):
    plan_id = await plans.plan_id(user.id)
    return await rpc.call(c.RpcNames.GET_MODEL, c.CatalogItemQuery(plan_id=plan_id, item_id=model_pk))
