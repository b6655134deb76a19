// files/: MAAS's file storage, which Juju's MAAS provider uses as its storage (names
// prefixed with the model's UUID). As in MAAS (src/maasserver/api/files.py) every file
// belongs to the user who stored it and only its owner lists, reads or deletes it, admins
// included; anyone holding a file's key reads it anonymously (files/?op=get_by_key&key=…),
// which is how Juju hands files to its agents. The bytes live in the FILES R2 bucket, the
// names and keys in D1 (maas_files).
import { b64 } from "../auth/crypto";
import { deleteFile, storeFile } from "../domain/images";
import type { Handler, Req } from "./table";
import { API, badRequest, type BodyLimit, deleted, MaasError } from "./wire";

/**
 * The largest file stored. Uploads are read whole into the Worker (128 MB of memory): a file
 * part base64-encoded by the maas CLI is a third larger again, so 32 MiB leaves room.
 */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;
const MAX_FILE_TEXT = `The file is over ${MAX_FILE_BYTES / 1024 / 1024} MiB, the largest Plinth stores.`;
/** A MAX_FILE_BYTES part base64-encoded in 76-column lines, plus the other fields. */
const FILES_BODY: BodyLimit = { bytes: Math.ceil((((MAX_FILE_BYTES / 3) * 4) / 76) * 78) + 1024 * 1024, message: MAX_FILE_TEXT };

interface FileRow {
  filename: string;
  key: string;
  object: string;
  size: number;
  owner: string;
}

const SELECT = "SELECT f.filename, f.key, f.object, f.size, u.username AS owner FROM maas_files f JOIN users u ON u.id = f.owner_id";

/** Path segments escaped, slashes kept: MAAS's reverse("file_handler") does the same. */
export const fileUri = (filename: string) => `${API}/files/${filename.split("/").map(encodeURIComponent).join("/")}/`;
const anonUri = (key: string) => `${API}/files/?op=get_by_key&key=${encodeURIComponent(key)}`;

function fileJson(f: FileRow) {
  return { filename: f.filename, anon_resource_uri: anonUri(f.key), owner: f.owner, resource_uri: fileUri(f.filename) };
}

function text(body: string, status: number, headers: Record<string, string> = {}) {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

/** MAAS's get_mandatory_param message. */
function mandatory(r: Req, name: string): string {
  const v = r.p.get(name);
  if (v === undefined || v === "") throw badRequest(`No provided ${name}!`);
  return v;
}

function checkFilename(name: string) {
  if (name.length > 255) throw new MaasError(400, { filename: ["Ensure this value has at most 255 characters."] });
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new MaasError(400, { filename: ["The file name contains control characters."] });
  // A "." or ".." segment would be resolved away in the file's URL (files/{filename}/).
  if (name.split("/").some((s) => s === "." || s === "..")) throw new MaasError(400, { filename: ['A file name cannot have "." or ".." between slashes.'] });
}

/**
 * The row and its bytes. A concurrent overwrite may replace the object between the two reads:
 * the row is read again then, so a reader never sees a file half gone.
 */
async function open(r: Req, where: string, ...args: (string | number)[]): Promise<{ row: FileRow; body: R2ObjectBody } | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await r.db
      .prepare(`${SELECT} WHERE ${where}`)
      .bind(...args)
      .first<FileRow>();
    if (!row) return null;
    const body = await r.c.env.FILES.get(row.object);
    if (body) return { row, body };
  }
  throw new MaasError(503, "The file changed while it was read; try again.", { "retry-after": "1" });
}

function raw(f: { row: FileRow; body: R2ObjectBody }): Response {
  return new Response(f.body.body, { headers: { "content-type": "application/octet-stream", "content-length": String(f.row.size) } });
}

/** Base64 of a stream, as a stream: a stored file is never held whole to be encoded. */
function base64Stream(src: ReadableStream<Uint8Array>, prefix: string, suffix: string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const reader = src.getReader();
  let carry = new Uint8Array(0);
  let started = false;
  // Encoded in pieces of whole 3-byte groups, so the pieces join into one base64 text.
  const piece = 3 * 8192;
  const encode = (u: Uint8Array) => {
    let s = "";
    for (let i = 0; i < u.length; i += piece) s += b64(u.subarray(i, i + piece));
    return s;
  };
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (!started) {
        started = true;
        ctl.enqueue(enc.encode(prefix));
        return;
      }
      const { value, done } = await reader.read();
      if (done) {
        ctl.enqueue(enc.encode(`${encode(carry)}${suffix}`));
        ctl.close();
        return;
      }
      const all = new Uint8Array(carry.length + value.length);
      all.set(carry);
      all.set(value, carry.length);
      const whole = all.length - (all.length % 3);
      carry = all.slice(whole);
      if (whole) ctl.enqueue(enc.encode(encode(all.subarray(0, whole))));
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

async function store(r: Req): Promise<Response> {
  const filename = r.p.get("filename");
  if (!filename) throw badRequest("Filename not supplied");
  checkFilename(filename);
  if (r.p.files.size === 0) throw badRequest("File not supplied");
  if (r.p.files.size !== 1) throw badRequest("Exactly one file must be supplied");
  const bytes = r.p.files.get("file");
  if (!bytes) throw badRequest('File not supplied (the file part must be named "file")');
  if (bytes.length > MAX_FILE_BYTES) throw new MaasError(413, MAX_FILE_TEXT);
  await storeFile(r.db, r.c.env.FILES, { id: r.caller.userId, username: r.caller.username }, filename, bytes);
  // MAAS answers 201 with an empty body.
  return text("", 201);
}

async function remove(r: Req, filename: string): Promise<Response> {
  if (!(await deleteFile(r.db, r.c.env.FILES, r.caller.userId, filename))) throw new MaasError(404, "No FileStorage matches the given query.");
  return deleted();
}

const createDoc = "Add a new file to the file storage (multipart: a filename field and a file part named file). Storing a name again replaces its content.";

const filesHandler: Handler = {
  name: "FilesHandler",
  doc: "Manage the collection of all the files in this MAAS.",
  path: "files/",
  maxBody: FILES_BODY,
  actions: [
    {
      method: "GET",
      op: null,
      doc: "List the files from the file storage, ordered by name, without their content.",
      params: ["prefix"],
      run: async (r) => {
        const prefix = r.p.get("prefix");
        const { results } = await r.db
          .prepare(`${SELECT} WHERE f.owner_id = ? AND (?2 IS NULL OR substr(f.filename, 1, length(?2)) = ?2) ORDER BY f.filename`)
          .bind(r.caller.userId, prefix ?? null)
          .all<FileRow>();
        return Response.json(results.map(fileJson));
      },
    },
    { method: "POST", op: null, doc: createDoc, params: ["filename", "file"], run: store },
    // MAAS 1.x's name for create; older Juju providers still send it.
    { method: "POST", op: "add", doc: createDoc, params: ["filename", "file"], run: store },
    {
      method: "GET",
      op: "get",
      doc: "Get a named file from the file storage: its raw content.",
      params: ["filename"],
      run: async (r) => {
        const f = await open(r, "f.owner_id = ? AND f.filename = ?", r.caller.userId, mandatory(r, "filename"));
        if (!f) throw new MaasError(404, "File not found");
        return raw(f);
      },
    },
    {
      method: "GET",
      op: "get_by_key",
      anon: true,
      doc: "Get a file from the file storage with the given key: its raw content. Anonymous.",
      params: ["key"],
      run: async (r) => {
        const f = await open(r, "f.key = ?", mandatory(r, "key"));
        if (!f) throw new MaasError(404, "No FileStorage matches the given query.");
        return raw(f);
      },
    },
    { method: "DELETE", op: null, doc: "Delete a stored file.", params: ["filename"], run: (r) => remove(r, mandatory(r, "filename")) },
  ],
};

const fileHandler: Handler = {
  name: "FileHandler",
  doc: "Manage a FileStorage object. The file is identified by its filename and owner.",
  path: "files/{filename...}/",
  actions: [
    {
      method: "GET",
      op: null,
      doc: "Reads a stored file with the given file name. The content of the file is base64-encoded.",
      run: async (r) => {
        const f = await open(r, "f.owner_id = ? AND f.filename = ?", r.caller.userId, r.path["filename"] ?? "");
        // MAAS marks this 404 so clients can tell a missing file from a missing endpoint.
        if (!f) return text("Not Found", 404, { workaround: "bug1123986" });
        const head = JSON.stringify(fileJson(f.row));
        return new Response(base64Stream(f.body.body, `${head.slice(0, -1)},"content":"`, `"}`), {
          headers: { "content-type": "application/json; charset=utf-8" },
        });
      },
    },
    { method: "DELETE", op: null, doc: "Delete a file with the given file name.", run: (r) => remove(r, r.path["filename"] ?? "") },
  ],
};

export const fileHandlers: Handler[] = [filesHandler, fileHandler];
