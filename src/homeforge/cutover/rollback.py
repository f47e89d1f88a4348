"""The rollback steps of the cutover engine: reopen the exposure, probe the legacy
endpoints, restore every consumer's journaled values, verify."""

from __future__ import annotations

from homeforge.cutover.journal import Journal, exclusive
from homeforge.cutover.lease import leased
from homeforge.cutover.model import Consumer
from homeforge.cutover.targets import Interrupted, StepFailed
from homeforge.errors import BadInput, HomeforgeError
from homeforge.remote import fan_out_or_raise


class RollbackSteps:
    """Mixed into :class:`homeforge.cutover.engine.Engine`, whose helpers it uses."""

    def _consumer(self, ident: str) -> Consumer:
        for c in self.service.consumers:
            if c.ident == ident:
                return c
        raise BadInput(
            f"{self.inv.path}: homeforge_services.{self.service.name}: the journal changed "
            f"{ident.split(':', 1)[1]}, which is no longer declared; restore it by hand from the journal"
        )

    def _restore(self, journal: Journal, verify_legacy: bool, force: bool = False) -> None:
        """Put every journaled change back, exposure first, then consumers (newest first)."""
        entries = [
            e
            for e in reversed(journal.data["changes"])
            if e["state"] in ("intent", "applied", "restoring")
        ]
        for entry in [e for e in entries if e["what"] == "exposure"]:
            self._checkpoint()
            changed = self.exposure.write(entry["host"], entry["previous"])
            journal.mark(entry, "restored")
            message = self.exposure.describe(entry["host"], entry["previous"])
            self._event("rollback", "change" if changed else "ok", message, entry["host"])
        consumers = [(e, self._consumer(e["id"])) for e in entries if e["what"] == "consumer"]
        if verify_legacy and not force:
            self._probe_legacy(consumers)
        for entry, c in consumers:
            # "restoring": an interrupted rollback may have written the file already
            settle = entry["state"] == "restoring"
            journal.mark(entry, "restoring")
            self._switch(c, entry["previous"]["values"], "rollback", settle=settle)
            journal.mark(entry, "restored")
        for entry, c in consumers:
            # --force: the legacy endpoints were known not to answer; the values are checked
            self._verify_consumer(c, entry["previous"]["values"], "rollback", probe=not force)
        if force and consumers:
            self._event("rollback", "warn", "legacy endpoints not probed (--force)")

    def _probe_legacy(self, consumers: list[tuple[dict, Consumer]]) -> None:
        by_host: dict[str, list[str]] = {}
        for entry, c in consumers:
            previous = entry["previous"]
            for value in previous.get("effective", previous["values"]).values():
                url = self.health_url(value)
                if url:
                    by_host.setdefault(c.host, []).append(url)
        fan_out_or_raise(
            lambda h: self._probe(h, list(dict.fromkeys(by_host[h])), "legacy"), list(by_host)
        )

    def rollback(self, check: bool = False, force: bool = False) -> dict:
        service = self.service
        with exclusive("rollback", service.name, self.inv.path), self._interrupts():
            journal = Journal.load(service.name, self.inv.path)
            if journal is None:
                raise BadInput(
                    f"{Journal.path_for(service.name, self.inv.path)}: no cutover journal for {service.name}, "
                    "so nothing to roll back"
                )
            self._same_inventory(journal)
            if journal.phase == "rolled-back":
                when = journal.data["history"][-1]["at"]
                self._event("rollback", "ok", f"already rolled back ({when}); nothing to do")
                return {
                    "service": service.name,
                    "action": "rollback",
                    "ok": True,
                    "phase": "rolled-back",
                    "changed": False,
                }
            if check:
                return self._would_roll_back(journal)
            with leased(self, "rollback", journal):
                self.journal = journal
                journal.set_phase("rolling-back")
                try:
                    self._restore(journal, verify_legacy=True, force=force)
                except Interrupted:
                    journal.log("rollback interrupted")
                    raise Interrupted(
                        f"interrupted; journal {journal.path}: run "
                        f"'homeforge mesh rollback {service.name}' again to finish"
                    ) from None
                except HomeforgeError as exc:
                    journal.log(f"rollback stopped: {exc}")
                    raise StepFailed(
                        f"rollback stopped: {exc}; journal {journal.path} keeps what is left to restore"
                    ) from None
                return self._record(journal, "rollback", "rolled-back", "rolled back")

    def _would_roll_back(self, journal: Journal) -> dict:
        would = []
        for entry in journal.data["changes"]:
            if entry["state"] not in ("intent", "applied", "restoring"):
                continue
            if entry["what"] == "exposure":
                would.append(
                    f"{entry['host']}: {self.exposure.describe(entry['host'], entry['previous'])}"
                )
            else:
                c = self._consumer(entry["id"])
                now = self._target(c).read()["values"]
                would += self._value_changes(c, now, entry["previous"]["values"])
        for line in would:
            self._event("check", "would", line)
        return {
            "service": self.service.name,
            "action": "rollback",
            "check": True,
            "ok": True,
            "would_change": would,
        }
