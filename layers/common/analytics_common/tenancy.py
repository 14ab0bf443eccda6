"""What counts as an organization id, in a JWT claim and in the authorizer context alike."""

MAX_ORG_ID = 2**63 - 1  # organizations.id is a bigint
MAX_ORG_ID_DIGITS = len(str(MAX_ORG_ID))


def parse_org_id(value: object) -> int | None:
    """A positive integer, or a string of ASCII digits, that fits organizations.id; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= MAX_ORG_ID_DIGITS:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_ORG_ID else None
