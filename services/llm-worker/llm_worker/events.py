"""The worker's events on the broker: declared publishers, persistent and confirmed. Deltas are not
among them: they go to the session's Redis stream (llm_worker.deltas); the completion carries the
whole text."""

from faststream.rabbit import RabbitBroker

from shared import metrics
from shared.contracts.llm import ReplyCompleted, ReplyFailed, TitleGenerated
from shared.topology import EVENTS, Keys


class BrokerEvents:
    def __init__(self, broker: RabbitBroker) -> None:
        self._completed = broker.publisher(exchange=EVENTS, routing_key=Keys.REPLY_COMPLETED,
                                           schema=ReplyCompleted, persist=True)
        self._failed = broker.publisher(exchange=EVENTS, routing_key=Keys.REPLY_FAILED, schema=ReplyFailed,
                                        persist=True)
        self._title = broker.publisher(exchange=EVENTS, routing_key=Keys.TITLE_GENERATED,
                                       schema=TitleGenerated, persist=True)

    async def reply_completed(self, event: ReplyCompleted) -> None:
        await self._completed.publish(event)
        # Counted once published: a redelivered command that publishes again counts again, as
        # its generation ran again.
        metrics.record_generation("stopped" if event.stopped else "completed", event.model,
                                  event.usage.prompt_tokens, event.usage.completion_tokens)

    async def reply_failed(self, event: ReplyFailed) -> None:
        await self._failed.publish(event)
        metrics.GENERATIONS.labels("failed").inc()

    async def title_generated(self, event: TitleGenerated) -> None:
        await self._title.publish(event)
