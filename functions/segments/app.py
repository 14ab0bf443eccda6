"""GET /api/analytics/segments/: the organization's active segments with their 30-day size trend."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from segments_queries import fetch_segments

from analytics_common import clock
from analytics_common.api import create_app, request_query
from analytics_common.clickhouse import clickhouse_client
from analytics_common.postgres import postgres_client
from analytics_common.query import CURSOR, DAYS, LIMIT, TZ, Page

logger = Logger()
app = create_app(logger)


@app.get("/api/analytics/segments", query=(TZ, DAYS, LIMIT, CURSOR))
def segments() -> Page:
    query = request_query(app)
    return fetch_segments(
        postgres_client(),
        clickhouse_client(),
        app.org_id,
        query.window(clock.utc_now()),
        after=query.after,
        limit=query.limit,
    )


# log_event=False: the event holds the bearer token, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
