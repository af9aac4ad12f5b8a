"""Static partitions by authority, when the settings name an authorities.yaml (OBA_AUTHORITIES)."""

import dagster as dg

from pipelines.authorities import configured_region


def authority_partitions() -> dg.StaticPartitionsDefinition | None:
    region = configured_region()
    return dg.StaticPartitionsDefinition(region.keys) if region else None


defs = dg.Definitions()
