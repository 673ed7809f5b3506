"""The Ostinato contract (ostinato.v1) and its generated Python code."""

import warnings

# The contract imports note-seq's music.proto, and importing note_seq loads pydub, which warns about a
# missing ffmpeg at import time. Ostinato never uses pydub; the warning would only confuse users.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv")
