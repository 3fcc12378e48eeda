"""The HTML pages: search at /, one model at /models/{owner}/{name}."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from edgebench.errors import UserError
from edgebench.hub import db as hubdb
from edgebench.hub import pages
from edgebench.hub.db import HubRefusal
from edgebench.hub.routes.deps import Facet, Hub, SearchText, model_path

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def search_page(hub: Hub, q: SearchText = "", task: Facet = "", tag: Facet = "",
                format: Facet = "") -> HTMLResponse:
    with hub.db.session() as s:
        models = [hubdb.model_summary(m) for m in hub.db.search(s, q, task, tag, format, 200, 0)]
        facets = hub.db.facets(s)
    return pages.html(pages.render("search.html.j2", models=models, q=q, task=task, tag=tag,
                                   format=format, facets=facets))


@router.get("/models/{owner}/{name}", response_class=HTMLResponse)
def model_page(owner: str, name: str, hub: Hub) -> HTMLResponse:
    with hub.db.session() as s:
        try:
            model = hub.db.find_model(s, model_path(owner, name))
        except (HubRefusal, UserError) as exc:
            return pages.html(pages.render("missing.html.j2", message=str(exc)), status=404)
        results = [hubdb.result_out(r, v) for r, v in hub.db.results_for(s, model)]
        context = {"model": hubdb.model_summary(model), "card": model.card,
                   "versions": [hubdb.version_out(v) for v in reversed(model.versions)]}
    return pages.html(pages.render("model.html.j2", results=results,
                                   chart=pages.fps_chart(results), **context))
