"""Chat's use cases behind one name: each part has one job (the catalog a plan offers, sessions, their
message pages, exchanges, the stale sweep, the worker's reply and title events); the handlers, the
sweep and the tests call them through `ChatService`."""

from chat.catalog_cache import CatalogCache
from chat.catalog_reads import CatalogReads
from chat.exchanges import Admitter, Exchanges
from chat.message_pages import MessagePages
from chat.reply_events import ReplyEvents
from chat.sessions import Sessions
from chat.settings import ChatSettings
from chat.stale_exchanges import StaleExchanges
from chat.use_case import OnOutbox
from shared.clock import Clock
from shared.db import SessionFactory


class ChatService:
    def __init__(self, factory: SessionFactory, settings: ChatSettings, clock: Clock,
                 on_outbox: OnOutbox | None = None, *, billing: Admitter | None = None) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.billing = billing
        # The send path's catalog rows; the admin handlers clear it when staff change the catalog.
        self.catalog = CatalogCache(settings.catalog_cache_seconds)
        on_outbox = on_outbox or (lambda _session: None)
        self.catalog_reads = CatalogReads(factory)
        self.sessions = Sessions(factory, settings, clock)
        self.message_pages = MessagePages(factory)
        self.exchanges = Exchanges(factory, settings, clock, self.catalog, billing, on_outbox)
        self.stale_exchanges = StaleExchanges(factory, settings, clock, on_outbox)
        self.reply_events = ReplyEvents(factory, settings, clock, on_outbox)
        # Each use case by the name the handlers call it.
        self.list_chatbots = self.catalog_reads.list_chatbots
        self.get_chatbot = self.catalog_reads.get_chatbot
        self.list_models = self.catalog_reads.list_models
        self.get_model = self.catalog_reads.get_model
        self.create_session = self.sessions.create_session
        self.list_sessions = self.sessions.list_sessions
        self.get_session = self.sessions.get_session
        self.update_session = self.sessions.update_session
        self.delete_session = self.sessions.delete_session
        self.list_messages = self.message_pages.list_messages
        self.page_messages = self.message_pages.page_messages
        self.message_page_wire = self.message_pages.message_page_wire
        self.run_exchange = self.exchanges.run_exchange
        self.abandon_exchange = self.exchanges.abandon_exchange
        self.stop_reply = self.exchanges.stop_reply
        self.fail_stale_exchanges = self.stale_exchanges.fail_stale_exchanges
        self.on_reply_completed = self.reply_events.on_reply_completed
        self.on_reply_failed = self.reply_events.on_reply_failed
        self.on_title_generated = self.reply_events.on_title_generated
