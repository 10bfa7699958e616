"""neuromaster.models: the neural controller (optional extra ``neuromaster[neural]``).

Coming after the DSP base; nothing here yet imports torch.
"""
