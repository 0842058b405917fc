"""A skorch callback that shows one progress bar over the epochs of a fit (CLI only)."""

from skorch.callbacks import Callback

__all__ = ["EpochProgress"]


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
