"""Staff-only catalog management: /api/admin/ai-models/ and /api/admin/chatbots/ (api.md §5)."""

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from gateway import admin_schemas as a
from gateway import report_schemas as rs
from gateway.backends import Rpc, RpcClient
from gateway.deps import Audit, Lists, StaffUser
from gateway.pagination import Pages, paged_list
from gateway.schemas import ErrorBody, PathId, conflict
from shared.contracts import chat as c

router = APIRouter(prefix="/api/admin", tags=["admin"])
A = c.AdminRpcNames
# Sessions embed their chatbot and model: an edit reaches every cached session list.
IN_USE = conflict("Chat sessions use it (`code`: in_use): set is_active to false instead")


@dataclass(frozen=True)
class Catalog:
    """One kind of catalog object: its name in the audit log, chat's RPCs and its save command."""

    kind: str
    get: str
    save: str
    delete: str
    command: type[c.SaveAiModel] | type[c.SaveChatbot]


MODELS = Catalog("ai_model", A.GET_MODEL, A.SAVE_MODEL, A.DELETE_MODEL, c.SaveAiModel)
CHATBOTS = Catalog("chatbot", A.GET_CHATBOT, A.SAVE_CHATBOT, A.DELETE_CHATBOT, c.SaveChatbot)


async def _create(what: Catalog, body: a.AdminBody, staff: StaffUser, rpc: RpcClient, audit: Audit) -> dict:
    item = await rpc.call(what.save, what.command(fields=body.sent()))
    await audit.changed(staff, what.kind, item["id"], None, item)
    return item


async def _save(what: Catalog, item_id: int, body: a.AdminBody, staff: StaffUser, rpc: RpcClient, lists: Lists,
                audit: Audit, *, partial: bool) -> dict:
    """PUT (every field) or PATCH (`partial`: only the fields sent), recorded in the audit log."""
    before = await rpc.call(what.get, c.AdminItem(item_id=item_id))
    command = what.command(item_id=item_id, partial=partial, fields=body.sent())
    item = await lists.catalog_changing(rpc.call(what.save, command))
    await audit.changed(staff, what.kind, item_id, before, item)
    return item


async def _delete(what: Catalog, item_id: int, staff: StaffUser, rpc: RpcClient, lists: Lists, audit: Audit) -> Response:
    before = await rpc.call(what.get, c.AdminItem(item_id=item_id))
    await lists.catalog_changing(rpc.call(what.delete, c.AdminItem(item_id=item_id)))
    await audit.changed(staff, what.kind, item_id, before, None)
    return Response(status_code=204)


@router.get("/ai-models/", response_model=list[c.AdminAiModel] | dict)
async def list_models(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    return await paged_list(request, params, lambda: rpc.call(A.LIST_MODELS, c.AdminList()))


@router.post("/ai-models/", status_code=201, response_model=c.AdminAiModel)
async def create_model(body: a.AiModelCreate, staff: StaffUser, rpc: Rpc, audit: Audit):
    return await _create(MODELS, body, staff, rpc, audit)


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
    return await _save(MODELS, item_id, body, staff, rpc, lists, audit, partial=False)


@router.patch("/ai-models/{item_id}/", response_model=c.AdminAiModel)
async def update_model(item_id: PathId, body: a.AiModelPatch, staff: StaffUser, rpc: Rpc, lists: Lists,
                       audit: Audit):
    return await _save(MODELS, item_id, body, staff, rpc, lists, audit, partial=True)


@router.delete("/ai-models/{item_id}/", status_code=204, response_class=Response, responses=IN_USE)
async def delete_model(item_id: PathId, staff: StaffUser, rpc: Rpc, lists: Lists, audit: Audit):
    return await _delete(MODELS, item_id, staff, rpc, lists, audit)


@router.get("/chatbots/", response_model=list[c.AdminChatbot] | dict)
async def list_chatbots(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    return await paged_list(request, params, lambda: rpc.call(A.LIST_CHATBOTS, c.AdminList()))


@router.post("/chatbots/", status_code=201, response_model=c.AdminChatbot)
async def create_chatbot(body: a.ChatbotCreate, staff: StaffUser, rpc: Rpc, audit: Audit):
    return await _create(CHATBOTS, body, staff, rpc, audit)


@router.get("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def get_chatbot(item_id: PathId, _: StaffUser, rpc: Rpc):
    return await rpc.call(A.GET_CHATBOT, c.AdminItem(item_id=item_id))


@router.put("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def replace_chatbot(item_id: PathId, body: a.ChatbotFields, staff: StaffUser, rpc: Rpc, lists: Lists,
                        audit: Audit):
    return await _save(CHATBOTS, item_id, body, staff, rpc, lists, audit, partial=False)


@router.patch("/chatbots/{item_id}/", response_model=c.AdminChatbot)
async def update_chatbot(item_id: PathId, body: a.ChatbotPatch, staff: StaffUser, rpc: Rpc, lists: Lists,
                       audit: Audit):
    return await _save(CHATBOTS, item_id, body, staff, rpc, lists, audit, partial=True)


@router.delete("/chatbots/{item_id}/", status_code=204, response_class=Response, responses=IN_USE)
async def delete_chatbot(item_id: PathId, staff: StaffUser, rpc: Rpc, lists: Lists, audit: Audit):
    return await _delete(CHATBOTS, item_id, staff, rpc, lists, audit)
