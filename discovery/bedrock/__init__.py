"""AWS Bedrock, region by region: boto3 calls, normalization, region health and ranking.

Bedrock offers a different set of models in each region, some only through cross-region
inference profiles (``us.``, ``eu.``, ``apac.``, ``global.`` ids). Each region is its own source
(``bedrock@<region>``) with its own snapshot; :func:`combine_region_sources` folds those into one
catalog entry per Bedrock model id whose ``regions`` is the union; per-region details are kept in
``attributes`` as value → regions groups (``regions_by_profile``, ``regions_by_inference_type``,
``regions_by_lifecycle``), which stay small and diff readably. Plain logic, no threads: :mod:`actors.bedrock` adds them.

:mod:`.regions` names regions as sources and keeps their status; :mod:`.normalize` turns one
region's answer into models; :mod:`.fold` folds the regions into one entry per model and ranks
them for a call; :mod:`.client` is boto3's side (clients, bounded signed calls, errors).
"""
from discovery.bedrock.client import (  # noqa: F401
    MAX_ANSWER_BYTES,
    MAX_PAGES,
    NO_CREDENTIALS_RECHECK,
    PROFILE_PAGE_SIZE,
    REUSED_PER_THREAD,
    REUSED_SHAPES,
    UNAVAILABLE_CODES,
    BedrockRegionClient,
    ReusingParser,
    ReusingParserFactory,
    classify_error,
    describe_regions,
    learn_signing_credentials,
    make_client,
    parse_timestamp,
    shape_mismatch,
)
from discovery.bedrock.fold import (  # noqa: F401
    RegionFold,
    combine_region_sources,
    combine_regions,
    model_region_rows,
    rank_regions,
    region_details,
    resolve_model,
)
from discovery.bedrock.normalize import (  # noqa: F401
    INFERENCE_TYPES,
    LIFECYCLE,
    MODALITY_WORDS,
    REGION_GROUPS,
    model_id_from_arn,
    normalize_region,
    normalize_summary,
)
from discovery.bedrock.regions import (  # noqa: F401
    PROVIDER,
    REGION_NAME,
    SOURCE_PREFIX,
    Ewma,
    RegionBoard,
    RegionStatus,
    RegionUnavailable,
    UnknownBedrockModel,
    canonical_id,
    endpoint_for,
    region_of,
    source_name,
)
