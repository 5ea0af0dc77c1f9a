"""Staff-only catalog management: /api/admin/ai-models/ and /api/admin/chatbots/ (api.md §5)."""

from fastapi import APIRouter, Request, Response

from gateway import admin_schemas as a
from gateway import report_schemas as rs
from gateway.backends import Rpc
from gateway.deps import Audit, Lists, StaffUser
from gateway.pagination import Pages, paged_list
from gateway.schemas import ErrorBody, PathId, conflict
from shared.contracts import chat as c

router = APIRouter(prefix="/api/admin", tags=["admin"])
A = c.AdminRpcNames
# Sessions embed their chatbot and model: an edit reaches every cached session list.
IN_USE = conflict("Chat sessions use it (`code`: in_use): set is_active to false instead")


@router.get("/ai-models/", response_model=list[c.AdminAiModel] | dict)
async def list_models(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    return await paged_list(request, params, lambda: rpc.call(A.LIST_MODELS, c.AdminList()))


@router.post("/ai-models/", status_code=201, response_model=c.AdminAiModel)
async def create_model(body: a.AiModelCreate, staff: StaffUser, rpc: Rpc, audit: Audit):
    item = await rpc.call(A.SAVE_MODEL, c.SaveAiModel(fields=body.fields()))
    await audit.changed(staff, "ai_model", item["id"], None, item)
    return item


# Longer than an ordinary RPC: chat waits on OpenRouter (its own timeout, MODELS_SYNC_TIMEOUT_SECONDS).
SYNC_TIMEOUT_SECONDS = 15.0


@router.post("/ai-models/sync/", response_model=rs.SyncOut,
             responses={502: {"model": ErrorBody, "description": "OpenRouter failed (`code`: upstream_error)"}},
             summary="Fill names, context lengths and prices of catalog models from OpenRouter's model list")
async def sync_models(staff: StaffUser, rpc: Rpc, lists: Lists, audit: Audit):
    call = rpc.call(A.SYNC_MODELS, c.AdminList(), c.ModelsSynced, timeout=SYNC_TIMEOUT_SECONDS)
    synced = await lists.catalog_changing(call)
    changes = {f"{m.openrouter_id}.{field}": pair for m in synced.updated for field, pair in m.changes.items()}
    await audit.record(staff, "sync_models", "ai_model", "*",
                       f"Synced models from OpenRouter: {len(synced.updated)} updated, {synced.unchanged} unchanged",
                       changes)
    return synced


@router.get("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def get_model(item_id: PathId, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.GET_MODEL, c.AdminItem(item_id=item_id))


@router.put("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def replace_model(item_id: PathId, body: a.AiModelFields, staff: StaffUser, rpc: Rpc, lists: Lists,
                        audit: Audit):
    before = await rpc.call(A.GET_MODEL, c.AdminItem(item_id=item_id))
    command = c.SaveAiModel(item_id=item_id, fields=body.fields())
    item = await lists.catalog_changing(rpc.call(A.SAVE_MODEL, command))
    await audit.changed(staff, "ai_model", item_id, before, item)
    return item


@router.patch("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def update_model(item_id: PathId, body: a.AiModelPatch, staff: StaffUser, rpc: Rpc, lists: Lists,
                       audit: Audit):
    before = await rpc.call(A.GET_MODEL, c.AdminItem(item_id=item_id))
    command = c.SaveAiModel(item_id=item_id, partial=True, fields=body.fields())
    item = await lists.catalog_changing(rpc.call(A.SAVE_MODEL, command))
    await audit.changed(staff, "ai_model", item_id, before, item)
    return item


@router.delete("/ai-models/{item_id}/", status_code=204, response_class=Response, responses=IN_USE)
async def delete_model(item_id: PathId, staff: StaffUser, rpc: Rpc, lists: Lists, audit: Audit):
    before = await rpc.call(A.GET_MODEL, c.AdminItem(item_id=item_id))
    await lists.catalog_changing(rpc.call(A.DELETE_MODEL, c.AdminItem(item_id=item_id)))
    await audit.changed(staff, "ai_model", item_id, before, None)
    return Response(status_code=204)


@router.get("/chatbots/", response_model=list[c.AdminChatbot] | dict)
async def list_chatbots(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    return await paged_list(request, params, lambda: rpc.call(A.LIST_CHATBOTS, c.AdminList()))


@router.post("/chatbots/", status_code=201, response_model=c.AdminChatbot)
async def create_chatbot(body: a.ChatbotCreate, staff: StaffUser, rpc: Rpc, audit: Audit):
    item = await rpc.call(A.SAVE_CHATBOT, c.SaveChatbot(fields=body.fields()))
    await audit.changed(staff, "chatbot", item["id"], None, item)
    return item


@router.get("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def get_chatbot(item_id: PathId, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.GET_CHATBOT, c.AdminItem(item_id=item_id))


@router.put("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def replace_chatbot(item_id: PathId, body: a.ChatbotFields, staff: StaffUser, rpc: Rpc, lists: Lists,
                        audit: Audit):
    before = await rpc.call(A.GET_CHATBOT, c.AdminItem(item_id=item_id))
    command = c.SaveChatbot(item_id=item_id, fields=body.fields())
    item = await lists.catalog_changing(rpc.call(A.SAVE_CHATBOT, command))
    await audit.changed(staff, "chatbot", item_id, before, item)
    return item


@router.patch("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def update_chatbot(item_id: PathId, body: a.ChatbotPatch, staff: StaffUser, rpc: Rpc, lists: Lists,
                       audit: Audit):
    before = await rpc.call(A.GET_CHATBOT, c.AdminItem(item_id=item_id))
    command = c.SaveChatbot(item_id=item_id, partial=True, fields=body.fields())
    item = await lists.catalog_changing(rpc.call(A.SAVE_CHATBOT, command))
    await audit.changed(staff, "chatbot", item_id, before, item)
    return item


@router.delete("/chatbots/{item_id}/", status_code=204, response_class=Response, responses=IN_USE)
async def delete_chatbot(item_id: PathId, staff: StaffUser, rpc: Rpc, lists: Lists, audit: Audit):
    before = await rpc.call(A.GET_CHATBOT, c.AdminItem(item_id=item_id))
    await lists.catalog_changing(rpc.call(A.DELETE_CHATBOT, c.AdminItem(item_id=item_id)))
    await audit.changed(staff, "chatbot", item_id, before, None)
    return Response(status_code=204)
