"""A stand-in for Zibal's payment gateway (request, start page, verify, inquiry) for development and tests."""
