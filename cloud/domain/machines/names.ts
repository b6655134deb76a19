// MAAS-style identifiers: a 6-character system_id and a two-word hostname.
import { randomString } from "../../auth/crypto";

// MAAS's alphabet leaves out characters that are easy to misread (0/o, 1/l, i, u, v, z).
const SYSTEM_ID_ALPHABET = "2345678abcdefghkmnpqrstwxy";

export function newSystemId(): string {
  return randomString(6, SYSTEM_ID_ALPHABET);
}

const ADJECTIVES = [
  "able",
  "brave",
  "calm",
  "clear",
  "crisp",
  "deep",
  "eager",
  "fair",
  "fast",
  "fine",
  "glad",
  "grand",
  "keen",
  "kind",
  "lucid",
  "merry",
  "noble",
  "proud",
  "quick",
  "quiet",
  "rapid",
  "sharp",
  "smart",
  "solid",
  "steady",
  "swift",
  "tidy",
  "vivid",
  "warm",
  "wise",
];
const NOUNS = [
  "ant",
  "bear",
  "crane",
  "deer",
  "eagle",
  "falcon",
  "gecko",
  "heron",
  "ibex",
  "jay",
  "koala",
  "lark",
  "lynx",
  "mole",
  "newt",
  "otter",
  "panda",
  "quail",
  "raven",
  "seal",
  "tern",
  "urchin",
  "vole",
  "wren",
  "yak",
  "zebra",
  "bison",
  "cobra",
  "dingo",
  "egret",
];

export function newHostname(): string {
  const pick = <T>(xs: T[]) => xs[crypto.getRandomValues(new Uint32Array(1))[0]! % xs.length]!;
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomString(4)}`;
}
