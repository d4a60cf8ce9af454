"""The staff pages' alert sound (static/alert.wav): a short two-note chime, made here with the
standard library so it can be made again (`python -m welfare_checks.sound`), not downloaded.
"""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

RATE = 16_000  # samples per second, mono, 16-bit
#: (frequency in Hz, seconds): A5 then D6, a rising "ding-dong" heard over office noise.
NOTES = ((880.0, 0.16), (1174.66, 0.30))
VOLUME = 0.5
FADE_S = 0.005  # no click at the start and the end of a note
PATH = Path(__file__).resolve().parent / "static" / "alert.wav"


def _note(frequency: float, seconds: float) -> list[int]:
    count = int(RATE * seconds)
    samples = []
    for i in range(count):
        t = i / RATE
        decay = math.exp(-4.0 * t / seconds)  # a struck bell, not a beep
        edge = min(1.0, t / FADE_S, (seconds - t) / FADE_S)
        # The octave above gives the tone a little body on small laptop speakers.
        wave_value = math.sin(2 * math.pi * frequency * t) + 0.3 * math.sin(
            4 * math.pi * frequency * t
        )
        samples.append(round(32767 * VOLUME / 1.3 * decay * edge * wave_value))
    return samples


def chime() -> bytes:
    """The alert sound as a WAV file's bytes."""
    samples = [sample for frequency, seconds in NOTES for sample in _note(frequency, seconds)]
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return out.getvalue()


if __name__ == "__main__":
    PATH.write_bytes(chime())
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")
