"""Development tools: the Stripe sandbox, the bulk seed generator and the development server.

Not part of the product: `crm/` imports nothing from here, and the production image leaves it out."""
