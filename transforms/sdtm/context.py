"""What every domain builder reads: staged sources, the spec, and the subjects' reference dates."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from transforms.cdisc.findings import Findings
from transforms.config import StudyConfig
from transforms.odm.metadata import StudyMetadata
from transforms.privacy.scrub import Scrubber

if TYPE_CHECKING:  # the spec checks its derivation names against builders that read this context
    from transforms.sdtm.spec import MappingSpec


@dataclass
class BuildContext:
    """Inputs of the SDTM build, loaded once from the staged folder."""

    study: StudyConfig
    spec: MappingSpec
    meta: StudyMetadata
    items: pd.DataFrame
    randomization: pd.DataFrame | None
    identifiers: dict[str, list[str]]
    scrubber: Scrubber = field(default_factory=Scrubber)  # knows every subject's identifiers of the drop
    findings: Findings = field(default_factory=Findings)
    # Set by `sdtm.build.prepare`, which returns a prepared copy; no builder assigns them.
    visits: pd.DataFrame | None = None
    reference: pd.DataFrame | None = None  # indexed by SUBJECTKEY: RFSTDTC, RFXSTDTC, RFXENDTC
    dm_records: pd.DataFrame | None = None
    lb_records: pd.DataFrame | None = None

    @property
    def prepared(self) -> bool:
        """True once DM, LB records, reference dates and visits (what every domain reads) are in."""
        return self.dm_records is not None

    @property
    def blinded(self) -> bool:
        """True until the unblinded randomization list has landed."""
        return self.randomization is None
