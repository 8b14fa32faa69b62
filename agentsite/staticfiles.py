"""Static-file storage: hashed, compressed names after ``collectstatic``, plain ones before.

ServeStatic's manifest storage refuses to render a page whose static files have not been
collected, which would break the test suite and ``make run`` (both run with DEBUG off and no
``collectstatic``). Without a manifest this storage hands out the plain name, which ServeStatic
serves from the apps' ``static/`` folders (``SERVESTATIC_USE_FINDERS``). Once a manifest exists,
a file missing from it is still an error, as in production it should be.
"""

from __future__ import annotations

from servestatic.storage import CompressedManifestStaticFilesStorage


class CollectedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        try:
            stored: str = super().stored_name(name)
            return stored
        except ValueError:
            if self.hashed_files:
                raise
            return name
