"""Staff-only catalog management: /api/admin/ai-models/ and /api/admin/chatbots/ (api.md §5)."""

from fastapi import APIRouter, Request, Response

from gateway import admin_schemas as a
from gateway.backends import Rpc
from gateway.deps import Lists, StaffUser
from gateway.pagination import Pages, paged_list
from gateway.schemas import PathId, conflict
from shared.contracts import chat as c

router = APIRouter(prefix="/api/admin", tags=["admin"])
A = c.AdminQueries
# Sessions embed their chatbot and model: an edit reaches every cached session list.
IN_USE = conflict("Chat sessions use it (`code`: in_use): set is_active to false instead")


@router.get("/ai-models/", response_model=list[c.AdminAiModel] | dict)
async def list_models(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    return await paged_list(request, params, lambda: rpc.call(A.LIST_MODELS, c.AdminList()))


@router.post("/ai-models/", status_code=201, response_model=c.AdminAiModel)
async def create_model(body: a.AiModelCreate, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.SAVE_MODEL, c.SaveAiModel(fields=body.fields()))


@router.get("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def get_model(item_id: PathId, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.GET_MODEL, c.AdminItem(item_id=item_id))


@router.put("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def replace_model(item_id: PathId, body: a.AiModelFields, _: StaffUser, rpc: Rpc, lists: Lists):
    command = c.SaveAiModel(item_id=item_id, fields=body.fields())
    return await lists.catalog_changing(rpc.call(A.SAVE_MODEL, command))


@router.patch("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def update_model(item_id: PathId, body: a.AiModelPatch, _: StaffUser, rpc: Rpc, lists: Lists):
    command = c.SaveAiModel(item_id=item_id, partial=True, fields=body.fields())
    return await lists.catalog_changing(rpc.call(A.SAVE_MODEL, command))


@router.delete("/ai-models/{item_id}/", status_code=204, response_class=Response, responses=IN_USE)
async def delete_model(item_id: PathId, _: StaffUser, rpc: Rpc, lists: Lists):
    await lists.catalog_changing(rpc.call(A.DELETE_MODEL, c.AdminItem(item_id=item_id)))
    return Response(status_code=204)


@router.get("/chatbots/", response_model=list[c.AdminChatbot] | dict)
async def list_chatbots(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    return await paged_list(request, params, lambda: rpc.call(A.LIST_CHATBOTS, c.AdminList()))


@router.post("/chatbots/", status_code=201, response_model=c.AdminChatbot)
async def create_chatbot(body: a.ChatbotCreate, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.SAVE_CHATBOT, c.SaveChatbot(fields=body.fields()))


@router.get("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def get_chatbot(item_id: PathId, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.GET_CHATBOT, c.AdminItem(item_id=item_id))


@router.put("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def replace_chatbot(item_id: PathId, body: a.ChatbotFields, _: StaffUser, rpc: Rpc, lists: Lists):
    command = c.SaveChatbot(item_id=item_id, fields=body.fields())
    return await lists.catalog_changing(rpc.call(A.SAVE_CHATBOT, command))


@router.patch("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def update_chatbot(item_id: PathId, body: a.ChatbotPatch, _: StaffUser, rpc: Rpc, lists: Lists):
    command = c.SaveChatbot(item_id=item_id, partial=True, fields=body.fields())
    return await lists.catalog_changing(rpc.call(A.SAVE_CHATBOT, command))


@router.delete("/chatbots/{item_id}/", status_code=204, response_class=Response, responses=IN_USE)
async def delete_chatbot(item_id: PathId, _: StaffUser, rpc: Rpc, lists: Lists):
    await lists.catalog_changing(rpc.call(A.DELETE_CHATBOT, c.AdminItem(item_id=item_id)))
    return Response(status_code=204)
