"""``bids.download``: every sealed pli of a consultation into the agent's download folder
("Téléchargement des plis chiffrés").

Steps as the user sees them: fetching the consultation's description, checking the disk space,
downloading the plis ("pli 2 sur 2, enveloppe 1 sur 3, fichier 3 sur 3", overall %, speed),
done. Everything comes from the job's own origin (promise 6) with the page's short-lived bearer
token, which lives in memory only (jobs never store their parameters). The workflow (descriptor,
plan, resumable downloads) is ``agent.kinds.consultation``'s, shared with ``bids.open``.
"""

from __future__ import annotations

from bridge_protocol.kinds import BidsDownloadParams, BidsDownloadResult

from ..i18n import Text, human_size
from ..jobs.context import JobContext
from . import JobKind, StepSpec
from .consultation import SomeFilesFailed, fetch_planned, folder_label, plan_consultation

T = Text
STEPS = (
    StepSpec("descriptor", T("Récupération de la description", "Fetching the description"), 0.5),
    StepSpec("space", T("Vérification de l'espace disque", "Checking the disk space"), 0.2),
    StepSpec("download", T("Téléchargement des plis", "Downloading the bids"), 10),
    StepSpec("done", T("Terminé", "Done"), 0.1),
)
DONE = T("{n} fichier(s) de {plis} pli(s) téléchargé(s) ({size}).",
         "{n} file(s) of {plis} bid(s) downloaded ({size}).")
NOTHING = T("Aucun pli chiffré à télécharger.", "No sealed bid to download.")


class BidsDownload(JobKind):
    name = "bids.download"
    params_type = BidsDownloadParams
    steps = STEPS
    needs_pairing = True

    async def run(self, ctx: JobContext, params: BidsDownloadParams) -> BidsDownloadResult:
        with ctx.step("descriptor"):
            plan = await plan_consultation(ctx, params.url, params.token, out_dir=params.out_dir, plis=params.plis)
        total = sum(item.sealed.size for item in plan.items)
        try:
            results = await fetch_planned(ctx, plan, space_step="space", download_step="download")
        except SomeFilesFailed as exc:
            # The job fails, naming the files that failed; the others' outcomes stay in its result.
            ctx.keep_result(BidsDownloadResult(
                consultation=plan.consultation.id, title=plan.consultation.title, folder=folder_label(ctx, plan.folder),
                plis=plan.plis, files=exc.results, bytes=total, transferred=sum(r.transferred for r in exc.results),
                failed=exc.failed))
            raise
        with ctx.step("done"):
            ctx.set_message(ctx.t(DONE, n=len(results), plis=plan.plis, size=human_size(total, ctx.locale))
                            if plan.items else ctx.t(NOTHING))
        return BidsDownloadResult(consultation=plan.consultation.id, title=plan.consultation.title,
                                  folder=folder_label(ctx, plan.folder), plis=plan.plis, files=results, bytes=total,
                                  transferred=sum(r.transferred for r in results))


KIND = BidsDownload()
