"""The project's stand-in for the SMS gateway: speaks Kavenegar's REST API and keeps what it "sent"."""
