"""What each instrument of an ensemble plays: melody, counter-melody, chords, pad, bass, drums or arpeggio.

A role comes from the program's General MIDI family and from the rest of the ensemble: a piano is the
melody when it plays alone, the chords beside a saxophone; a cello is the bass of a string quartet but
a melody beside a double bass. `assign_roles([0, 33, -1])` -> {0: "chords", 33: "bass", -1: "drums"}.
Explicit roles (a user's choice) are checked against what the instrument can play.
"""

from __future__ import annotations

from ostinato.errors import InvalidInput
from symbolic.attributes import DRUM_PROGRAM

ROLES = ("melody", "counter_melody", "chords", "pad", "bass", "drums", "arpeggio")

BASS_FAMILY = frozenset(range(32, 40)) | {43, 58}  # basses, contrabass, tuba
LOW_VOICES = (42, 70, 57, 67, 32)  # cello, bassoon, trombone, baritone sax: a bass when no bass is there
PAD_FAMILY = frozenset(range(88, 96)) | frozenset(range(48, 52)) | {52, 53, 54, 19, 20}  # pads, string/choir ensembles, organs
POLYPHONIC = frozenset(range(0, 8)) | frozenset(range(16, 22)) | frozenset(range(24, 32)) | {46, 15, 105, 106, 107}
LEAD_FAMILY = (frozenset(range(80, 88)) | frozenset(range(40, 42)) | frozenset(range(56, 80)) | {22, 53, 104, 109, 110, 111}) - {58}
MALLETS = frozenset(range(8, 16))

# Roles an instrument may be given explicitly (anything pitched may play melody or counter-melody).
_CAN_PLAY = {
    "bass": lambda p: p in BASS_FAMILY or p in LOW_VOICES or p in POLYPHONIC or p in range(38, 40) or p in (87,),
    "chords": lambda p: p in POLYPHONIC or p in PAD_FAMILY or p in MALLETS or p in range(88, 96) or p in (45, 48, 49),
    "pad": lambda p: p in PAD_FAMILY or p in (0, 4, 5, 16, 17, 18, 21, 61, 62, 63) or p in range(88, 104),
    "arpeggio": lambda p: p in POLYPHONIC or p in MALLETS or p in range(80, 88) or p in (45, 46),
    "melody": lambda p: True,
    "counter_melody": lambda p: True,
}


def _melodic_rank(program: int) -> int:
    """Lower is a likelier lead: solo winds, strings, leads first; polyphonic instruments after."""
    if program in LEAD_FAMILY:
        return 0
    if program in MALLETS:
        return 1
    if program in POLYPHONIC:
        return 2
    if program in PAD_FAMILY:
        return 3
    return 1


def check_role(program: int, role: str) -> None:
    """Raises InvalidInput when an instrument cannot play a requested role."""
    from symbolic.instruments import program_name

    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if program == DRUM_PROGRAM:
        if role != "drums":
            raise InvalidInput(f"drums cannot play the {role} role")
        return
    if role == "drums":
        raise InvalidInput(f"{program_name(program)} is pitched: it cannot play the drums role (ask for drums)")
    if not _CAN_PLAY[role](program):
        raise InvalidInput(f"{program_name(program)} cannot play the {role.replace('_', ' ')} role")


def assign_roles(programs: list[int], given: dict[int, str] | None = None) -> dict[int, str]:
    """One role per program of an ensemble (programs unique). `given` roles are kept (after a check)."""
    given = dict(given or {})
    for program, role in given.items():
        check_role(program, role)
    roles: dict[int, str] = {}
    pitched = [p for p in programs if p != DRUM_PROGRAM]
    for program in programs:
        if program == DRUM_PROGRAM:
            roles[program] = "drums"
    for program, role in given.items():
        if program in programs:
            roles[program] = role
    free = [p for p in pitched if p not in roles]
    if not free:
        return roles
    if len(pitched) == 1:  # alone: a piano, guitar or choir plays chords with the tune on top
        alone = free[0]
        roles[alone] = "chords" if alone in POLYPHONIC or alone in PAD_FAMILY else "melody"
        return roles
    taken = set(roles.values())
    # bass: the bass family first; otherwise the lowest voice of three or more pitched instruments
    if "bass" not in taken:
        basses = [p for p in free if p in BASS_FAMILY]
        if not basses and len(pitched) >= 3:
            basses = [p for p in LOW_VOICES if p in free and p != 32]
        if basses:
            roles[basses[0]] = "bass"
            taken.add("bass")
            free.remove(basses[0])
            for extra in basses[1:]:
                if extra in BASS_FAMILY:
                    roles[extra] = "counter_melody"
                    free.remove(extra)
    if not free:
        return roles
    # melody: the likeliest lead
    if "melody" not in taken:
        lead = min(free, key=lambda p: (_melodic_rank(p), free.index(p)))
        leads_are_poly = lead in POLYPHONIC and not any(p in LEAD_FAMILY or p in MALLETS for p in free)
        others = [p for p in free if p != lead]
        if leads_are_poly and others and not any(p in POLYPHONIC or p in PAD_FAMILY for p in others):
            roles[lead] = "chords"  # a lone piano beside a bass comps; the model's top voice carries the tune
        elif leads_are_poly and not others and "chords" not in taken and "pad" not in taken and len(pitched) >= 2:
            roles[lead] = "chords"  # piano + bass (+ drums): the piano comps with the tune on top
        else:
            roles[lead] = "melody"
        free.remove(lead)
        taken.add(roles[lead])
    for program in list(free):
        if program in PAD_FAMILY and "pad" not in taken:
            roles[program] = "pad"
        elif program in POLYPHONIC and "chords" not in taken:
            roles[program] = "chords"
        elif program in POLYPHONIC or program in MALLETS:
            roles[program] = "arpeggio" if "arpeggio" not in taken else "counter_melody"
        elif program in PAD_FAMILY:
            roles[program] = "pad" if "pad" not in taken else "counter_melody"
        else:
            roles[program] = "counter_melody"
        taken.add(roles[program])
        free.remove(program)
    return roles


# Programs the shipped model heard in training (symbolic.data.augment: folk melody, bass and chord
# programs, chorale ensembles). A requested program outside this set is written by the model as a
# trained stand-in of the same role, and renamed back in the output: the user's synth lead gets a real
# line written the way the model writes a flute's, instead of the single note an unseen program got.
TRAINED_PROGRAMS = frozenset({0, 4, 6, 19, 21, 22, 24, 25, 32, 33, 35, 40, 41, 42, 43, 46, 48, 52, 56, 57, 58, 65,
                              68, 70, 71, 73, 74, 78, 105, 109})
_STAND_INS = {
    "melody": (73, 40, 71, 65, 74, 68, 56, 78),
    "counter_melody": (71, 41, 68, 74, 40, 73, 65),
    "chords": (0, 24, 25, 46, 21, 4, 6),
    "pad": (48, 19, 52, 0),
    "arpeggio": (46, 24, 0, 25),
    "bass": (33, 32, 35, 43, 42, 58, 70),
}


def stand_ins(roles: dict[int, str]) -> dict[int, int]:
    """Requested program -> the program the model writes it as (itself when trained or drums).

    Stand-ins are distinct and never one of the ensemble's own programs.
    """
    mapping = {program: program for program in roles if program == DRUM_PROGRAM or program in TRAINED_PROGRAMS}
    used = set(mapping.values())
    for program, role in roles.items():
        if program in mapping:
            continue
        choices = [p for p in _STAND_INS.get(role, _STAND_INS["melody"]) if p not in used and p not in roles]
        choices = choices or [p for p in sorted(TRAINED_PROGRAMS) if p not in used and p not in roles]
        mapping[program] = choices[0]
        used.add(choices[0])
    return mapping
