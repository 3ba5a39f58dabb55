"""The iCalendar UID of an Outlook event, from Graph's `iCalUId`.

Graph's `iCalUId` is Exchange's PidLidGlobalObjectId in hexadecimal ([MS-OXOCAL] 2.2.1.27): a
class id, the instance date (year, month, day: zero for a single event or a series, the
occurrence's date for an occurrence or exception, which is why it "is different for each
occurrence"), a creation time, padding, and the size and bytes of the data. Exchange writes the
UID of an invitation from it ([MS-OXCICAL] 2.1.3.1.1.20.26, [MS-ASEMAIL] 3.1.4.7): a meeting
made elsewhere (Google Calendar, an .ics) has its own UID wrapped in the data as `vCal-Uid`;
any other is the whole identifier with the instance date zeroed, in upper-case hexadecimal.

Read that way, one meeting has one UID in an Outlook calendar, in a Google calendar that got
Outlook's invitation, and in the invitation's .ics; with the occurrence's original start, it is
the meeting occurrence's key across calendars.
"""

from __future__ import annotations

import re

CLASS_ID = bytes.fromhex("040000008200E00074C5B7101A82E008")
VCAL_UID = b"vCal-Uid\x01\x00\x00\x00"
HEADER = 40  # class id 16, instance date 4, creation time 8, padding 8, data size 4
MAX_HEX = 4000  # a UID is stored in at most 1000 characters; the wrapped ones are short
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def series_uid(ical_uid: str) -> str:
    """The meeting's iCalendar UID (a series' own for any of its occurrences). What is no
    global object id is taken as the UID it already is."""
    if len(ical_uid) > MAX_HEX or not _HEX.fullmatch(ical_uid):
        return ical_uid
    raw = bytes.fromhex(ical_uid)
    if len(raw) < HEADER or raw[:16] != CLASS_ID:
        return ical_uid
    size = int.from_bytes(raw[36:40], "little")
    data = raw[HEADER : HEADER + size]
    if data.startswith(VCAL_UID):
        wrapped = data[len(VCAL_UID) :].split(b"\x00", 1)[0]
        uid = wrapped.decode("utf-8", "replace").strip()
        if uid:
            return uid
    return (raw[:16] + bytes(4) + raw[20:]).hex().upper()
