"""Front ends: turn a stream of typed text into hub calls and hub events into text."""
