"""The search methods' names and choices (no torch: the command line reads them)."""

AGGREGATES = ("last", "min", "mean", "product")
VOTES = ("best", "majority", "weighted")
DEFAULT_VOTE = {"best-of-n": "best", "beam": "best", "dvts": "best", "rebase": "majority",
                "deepconf": "weighted", "deepconf-online": "weighted"}
METHODS = tuple(DEFAULT_VOTE)
SHARED = ("best-of-n", "deepconf")  # the run of n trajectories is the first n of the run of N
NEEDS_REWARD = ("best-of-n", "beam", "dvts", "rebase")
