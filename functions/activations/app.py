"""GET /api/analytics/activations/: the organization's activations with their recent syncs."""

from activations_queries import fetch_activations
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from analytics_common.api import create_app, request_query
from analytics_common.postgres import postgres_client
from analytics_common.query import CURSOR, LIMIT, Page

logger = Logger()
app = create_app(logger)


@app.get("/api/analytics/activations", query=(LIMIT, CURSOR))
def activations() -> Page:
    query = request_query(app)
    return fetch_activations(postgres_client(), app.org_id, after=query.after, limit=query.limit)


# log_event=False: the event holds the bearer token, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
