"""Logging set-up shared by the functions."""

from aws_lambda_powertools import Logger


def use_json_logs_for_the_layer(logger: Logger) -> None:
    """The layer's own stdlib loggers (`analytics_common.*`) write JSON lines through `logger`'s handler."""
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    copy_config_to_registered_loggers(source_logger=logger, include={"analytics_common"})
