"""The hub's HTTP routes, one router per resource; create_app includes them in this order."""

from edgebench.hub.routes import meta, models, pages, results, subscriptions, uploads

ROUTERS = (meta.router, uploads.router, models.router, results.router, subscriptions.router,
           pages.router)
