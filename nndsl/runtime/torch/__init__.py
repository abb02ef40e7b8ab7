"""The PyTorch part of nndsl's runtime: NNC's layers, losses and solvers (`nnc`), data loaders (`data`)."""
