"""Wire contracts, one module per owning service.

Every message carries a `message_id`; consumers ignore fields they do not know, so adding a field
never breaks an older consumer.
"""
