"""skorch callbacks of the CLI: one progress bar over the epochs of a fit, and TensorBoard
logs (``--log-dir``)."""

from pathlib import Path

from skorch.callbacks import Callback, TensorBoard

# Imports inside functions: the command line imports only what the verb it runs needs, so that
# 'xanesnet-sk --help' and a verb's start-up do not load torch, scikit-learn or numba.

__all__ = ["EpochProgress", "TensorBoardDir"]


class EpochProgress(Callback):
    """tqdm bar over epochs, with the training loss; holds no bar outside a fit.

    Parameters
    ----------
    report : Reporter
        The CLI's reporting layer (makes the bar; none when quiet).
    desc : str, default="training"
        Label of the bar.
    """

    def __init__(self, report, desc="training"):
        self.report = report
        self.desc = desc

    def on_train_begin(self, net, **kwargs):
        """Open the bar."""
        total = getattr(net, "n_epochs_", net.max_epochs)  # max_epochs="auto" resolved
        self.bar_ = self.report.progress(total=total, desc=self.desc, unit="epoch")

    def on_epoch_end(self, net, **kwargs):
        """Advance the bar and show the loss."""
        self.bar_.set_postfix(loss=f"{net.history[-1, 'train_loss']:.4g}", refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        """Close the bar."""
        self.bar_.close()
        del self.bar_


class TensorBoardDir(TensorBoard):
    """skorch's TensorBoard callback, opening its writer when training starts.

    The unfitted net (cloned by the pipeline, sent to an ensemble's worker
    processes) then holds a path, not an open writer.  With ``per_member``,
    each net writes into ``log_dir/member-<random_state>`` (an ensemble's
    members, seeded from its ``seeds_``).
    """

    def __init__(self, log_dir, per_member=False, close_after_train=True, writer=None,
                 **kwargs):
        self.log_dir = log_dir
        self.per_member = per_member
        super().__init__(writer=None, close_after_train=close_after_train, **kwargs)

    def on_train_begin(self, net, **kwargs):
        """Open the writer (in the process that trains)."""
        from torch.utils.tensorboard import SummaryWriter

        where = Path(self.log_dir)
        if self.per_member:
            where = where / f"member-{net.random_state}"
        self.writer = SummaryWriter(log_dir=str(where))
        return super().on_train_begin(net, **kwargs)
