"""GET /api/analytics/overview/: the organization's workspace at a glance."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from overview_queries import fetch_overview

from analytics_common import clock
from analytics_common.api import create_app, request_query
from analytics_common.clickhouse import clickhouse_client
from analytics_common.postgres import postgres_client
from analytics_common.query import TZ

logger = Logger()
app = create_app(logger)


@app.get("/api/analytics/overview", query=(TZ,))
def overview() -> dict:
    query = request_query(app)
    return fetch_overview(postgres_client(), clickhouse_client(), app.org_id, query.window(clock.utc_now()))


# log_event=False: the event holds the bearer token, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
