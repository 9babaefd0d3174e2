"""A local stand-in for Stripe: the subset of its API the app uses, in Stripe's shapes.

`make run` starts it beside the app (see devtools/devserver.py); tests start it on a free port (see
tests/stripe_fixtures.py). The app reaches it through `STRIPE_API_BASE`, so the code path is the
one it takes with real Stripe. Not for production: the production configuration refuses it.
"""
