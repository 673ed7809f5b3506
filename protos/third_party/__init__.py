"""Generated code for the third-party messages the contract imports (note-seq's NoteSequence)."""
