"""The house's arrows run one way (issue 25 items 2, 4 and 8), read from the source with `ast`.

- no import circle between the folders of crm/ (crm/<folder>);
- crm/ imports nothing from devtools/ (the Stripe sandbox, the seed generator, the dev server);
- crm/core imports no domain (only crm.core, crm.extensions and the crm.cli command group);
- only the billing adapter (crm/billing/stripe_gateway*.py, or a stripe_gateway package) imports stripe;
- no module over 400 lines;
- a payment row is written only by billing, a consent row only by the consent module.

Lazy imports count. A function-level import hides a circle from Python, not from whoever reads the
code, so it counts exactly as a module-level one; there is no "deliberate" annotation and no list
of allowed circles: a lower domain that needs a higher one's step offers a hook the higher one
registers into at start-up (billing/events.py, memberships/lifecycle/hooks.py,
audiences.services.on_delete, memberships.daily.register_daily_step). `if TYPE_CHECKING:` imports do not count (they never run; the
models name each other by SQLAlchemy string names). See tests/foundation/architecture.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.foundation import architecture as arch

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400

#: Modules over MAX_LINES: none since the five big ones were split. Never add one (split the module).
KNOWN_LONG_MODULES: set[str] = set()


@pytest.fixture(scope="module")
def imports() -> list[arch.Import]:
    return arch.all_imports(ROOT)


def _where(found: list[arch.Import]) -> str:
    return "\n".join(f"  {i.path}:{i.line} imports {i.module}" for i in found)


def test_no_import_circle_between_the_folders_of_crm(imports: list[arch.Import]) -> None:
    folders = arch.domain_folders(ROOT)
    edges = arch.folder_edges(imports, folders)
    circles = arch.cycles(edges)
    detail = "\n".join(
        f"{' <-> '.join(circle)}:\n"
        + _where([i for (a, b), found in edges.items() if a in circle and b in circle for i in found])
        for circle in circles
    )
    assert not circles, f"import circles between crm/ folders (make the arrow run one way):\n{detail}"


def test_crm_imports_nothing_from_devtools(imports: list[arch.Import]) -> None:
    found = arch.devtools_imports(imports)
    assert not found, f"crm/ is what runs in production; devtools/ is not shipped:\n{_where(found)}"


def test_core_imports_no_domain(imports: list[arch.Import]) -> None:
    found = arch.core_domain_imports(imports)
    assert not found, (
        f"crm/core is the lowest floor (register a hook from the domain instead):\n{_where(found)}"
    )


def test_only_the_billing_adapter_imports_stripe(imports: list[arch.Import]) -> None:
    found = arch.stripe_imports(imports)
    assert not found, f"Stripe is called only from crm/billing/stripe_gateway*:\n{_where(found)}"


#: Who writes each kind of row (files whose path starts so), and what to call instead.
_PAYMENTS = ("crm/billing/", "billing records payments (record_online_payment, record_offline_payment)")
_CONSENT = ("crm/contacts/consent", "crm/contacts/consent.py records consent (consent_bulk.py in bulk)")
ROW_OWNERS = {"Payment": _PAYMENTS, "Consent": _CONSENT, "ContactConsent": _CONSENT}


def test_payment_and_consent_rows_are_written_only_by_their_owner() -> None:
    found = [
        f"  {path}:{line} writes {model} rows: {ROW_OWNERS[model][1]}"
        for path, line, model in arch.rows_written(ROOT, ROW_OWNERS)
        if not path.startswith(ROW_OWNERS[model][0])
    ]
    assert not found, "one owner per rule: call the owner instead\n" + "\n".join(found)


def test_no_module_over_400_lines_but_the_known_ones_which_only_shrink() -> None:
    long = arch.long_modules(ROOT, MAX_LINES)
    new = {path: n for path, n in long.items() if path not in KNOWN_LONG_MODULES}
    assert not new, f"split these along the domain (over {MAX_LINES} lines): {new}"
    shrunk = sorted(KNOWN_LONG_MODULES - set(long))
    assert not shrunk, f"now {MAX_LINES} lines or fewer (or gone): delete from KNOWN_LONG_MODULES: {shrunk}"


# -- the checks themselves catch what they are for (a small crm/ tree written to tmp_path) ----


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"crm/__init__.py": "", "crm/core/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _circles(root: Path) -> list[list[str]]:
    return arch.cycles(arch.folder_edges(arch.all_imports(root), arch.domain_folders(root)))


def test_a_lazy_import_that_closes_a_circle_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "crm/billing/__init__.py": "",
            "crm/billing/webhook.py": "def handle():\n    from crm.join.services import fulfil\n",
            "crm/join/__init__.py": "",
            "crm/join/services.py": "from crm.billing import webhook\n",
        },
    )
    assert _circles(root) == [["billing", "join"]]


def test_relative_and_importlib_imports_count_and_type_checking_ones_do_not(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "crm/a/__init__.py": "",
            "crm/a/models.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from crm.b.models import B\n",
            "crm/a/x.py": "import importlib\nq = importlib.import_module('crm.b.y')\n",
            "crm/b/__init__.py": "",
            "crm/b/models.py": "from ..a import models\n",
            "crm/b/y.py": "",
        },
    )
    found = {(i.path, i.module) for i in arch.all_imports(root)}
    assert ("crm/b/models.py", "crm.a.models") in found
    assert ("crm/a/x.py", "crm.b.y") in found
    assert ("crm/a/models.py", "crm.b.models") not in found
    assert _circles(root) == [["a", "b"]]


def test_devtools_stripe_and_core_domain_imports_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "crm/core/templating.py": "from crm import i18n\nfrom crm.extensions import db\nfrom crm.core import cache\n",
            "crm/i18n/__init__.py": "",
            "crm/join/__init__.py": "",
            "crm/join/routes.py": "import stripe\nfrom devtools.stripe_sandbox import server\n",
            "crm/billing/__init__.py": "",
            "crm/billing/stripe_gateway.py": "import stripe\n",
            "crm/billing/stripe_gateway_prices.py": "from stripe import Price\n",
        },
    )
    found = arch.all_imports(root)
    assert [(i.path, i.module) for i in arch.core_domain_imports(found)] == [
        ("crm/core/templating.py", "crm.i18n")
    ]
    assert [i.path for i in arch.stripe_imports(found)] == ["crm/join/routes.py"]
    assert [i.module for i in arch.devtools_imports(found)] == ["devtools.stripe_sandbox"]


def test_a_long_module_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"crm/staff/__init__.py": "", "crm/staff/big.py": "x = 1\n" * 401})
    assert arch.long_modules(root, MAX_LINES) == {"crm/staff/big.py": 401}


def test_rows_built_or_inserted_in_bulk_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "crm/demo.py": "from crm.billing import models\np = models.Payment(amount=1)\n",
            "crm/staff/__init__.py": "",
            "crm/staff/imports.py": "insert(Consent.__table__)\ninsert(Note.__table__)\nPaymentForm()\n",
        },
    )
    assert arch.rows_written(root, ["Payment", "Consent"]) == [
        ("crm/demo.py", 2, "Payment"),
        ("crm/staff/imports.py", 1, "Consent"),
    ]
