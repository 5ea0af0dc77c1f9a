"""Request bodies of the staff routes (api.md §5). The admin objects' field families (AI models,
chatbots, plans, discount codes) are defined once in `shared.contracts.admin_fields`, where the admin
contracts carry them too; the bodies only the gateway takes are here."""

from shared.contracts.admin_fields import (
    AdminBody,
    AiModelCreate,
    AiModelFields,
    AiModelPatch,
    ChatbotCreate,
    ChatbotFields,
    ChatbotPatch,
    Days,
    DiscountCodeBody,
    PlanCreate,
    PlanFields,
    PlanPatch,
)
from shared.contracts.base import Id

__all__ = [
    "AdminBody", "AiModelCreate", "AiModelFields", "AiModelPatch", "ChatbotCreate", "ChatbotFields", "ChatbotPatch",
    "DiscountCodeBody", "PlanCreate", "PlanFields", "PlanPatch", "StaffBody", "StartSubscriptionBody",
]


class StartSubscriptionBody(AdminBody):
    NULLABLE = frozenset({"duration_days"})  # null: the plan's own duration
    subscription_type_id: Id
    duration_days: Days | None = None


class StaffBody(AdminBody):
    is_staff: bool
