// UDP generic segmentation offload (Linux UDP_SEGMENT, kernel 4.18+) for Node's dgram sockets.
// Node has no setsockopt for it: with this set, one send of k TFTP packets laid end to end
// leaves as k datagrams of `size` bytes (the last may be shorter), one syscall instead of k.
// Only N-API is used, so the module loads in any Node >= 18 without a rebuild per version.
//
// It also carries a batched UDP socket for the DNS server (udpOpen .. closeFd below). Node 20's
// dgram has no recvmmsg/sendmmsg: every datagram costs a recvmsg and a sendmsg syscall, a Buffer,
// an event and a send callback, several times what answering a cached query costs. Here one recvmmsg
// takes up to `max` queries, and one sendmmsg sends their answers.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static int32_t arg_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

// setSegment(fd, size) -> 0 on success, else -errno. size 0 turns segmentation off.
static napi_value set_segment(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  int32_t fd = -1, size = -1, rc;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &size) || fd < 0 || size < 0 || size > 65535) {
    napi_throw_type_error(env, NULL, "setSegment(fd, size): two non-negative integers");
    return NULL;
  }
  int v = size;
  rc = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, sizeof v) == 0 ? 0 : -errno;
  napi_create_int32(env, rc, &result);
  return result;
}

// pathMtu(fd) -> the MTU of a connected socket's route (IP_MTU, or IPV6_MTU), else -errno.
static napi_value path_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !arg_int(env, argv[0], &fd) || fd < 0) {
    napi_throw_type_error(env, NULL, "pathMtu(fd): a non-negative integer");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int mtu = 0, rc;
  socklen_t ml = sizeof mtu;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) rc = -errno;
  else if (ss.ss_family == AF_INET6) rc = getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &ml) == 0 ? mtu : -errno;
  else rc = getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &ml) == 0 ? mtu : -errno;
  napi_create_int32(env, rc, &result);
  return result;
}

static napi_value int_result(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

// The slot each peer address takes in the `addrs` buffers: a sockaddr_in6 (28 bytes) or a
// sockaddr_in, as the kernel wrote it.
#define ADDR_SLOT 28
// Datagrams per recvBatch/sendBatch call at most; the JS side asks for fewer.
#define BATCH_MAX 256

// udpOpen(family 4|6, address, port) -> a bound UDP socket's fd, else -errno. Blocking, so a
// sendmmsg waits for buffer space like libuv would; recvBatch never blocks in recvmmsg (it polls,
// then reads with MSG_DONTWAIT). No SO_REUSEADDR: dgram does not set it either, and on Linux it
// would let a second server bind the same UDP port and silently take part of the queries.
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t family = 0, port = -1;
  char addr[64];
  size_t alen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !arg_int(env, argv[0], &family) || (family != 4 && family != 6) ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok || !arg_int(env, argv[2], &port) ||
      port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "udpOpen(family 4|6, address, port)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &a->sin_addr) != 1) return int_result(env, -EINVAL);
    sl = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1) return int_result(env, -EINVAL);
    sl = sizeof *a;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_result(env, -errno);
  int one = 1;
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return int_result(env, -e);
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
    int e = errno;
    close(fd);
    return int_result(env, -e);
  }
  return int_result(env, fd);
}

// udpLocalPort(fd) -> the bound port, else -errno.
static napi_value udp_local_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !arg_int(env, argv[0], &fd) || fd < 0) {
    napi_throw_type_error(env, NULL, "udpLocalPort(fd)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return int_result(env, -errno);
  if (ss.ss_family == AF_INET6) return int_result(env, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
  return int_result(env, ntohs(((struct sockaddr_in *)&ss)->sin_port));
}

// recvBatch(fd, buf, slot, lens, addrs, max, timeoutMs) -> datagrams read (0 on timeout), else
// -errno. Waits up to timeoutMs only when none is queued. Datagram i lands at buf[i*slot], its length in lens[i], its sender in addrs[i*28].
static napi_value recv_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  int32_t fd = -1, slot = 0, max = 0, timeout = 0;
  void *buf = NULL, *addrs = NULL, *lensData = NULL;
  size_t buflen = 0, addrslen = 0, lenslen = 0;
  napi_typedarray_type lt;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7 || !arg_int(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &buf, &buflen) != napi_ok ||
      !arg_int(env, argv[2], &slot) || napi_get_typedarray_info(env, argv[3], &lt, &lenslen, &lensData, NULL, NULL) != napi_ok ||
      lt != napi_int32_array || napi_get_buffer_info(env, argv[4], &addrs, &addrslen) != napi_ok || !arg_int(env, argv[5], &max) ||
      !arg_int(env, argv[6], &timeout) || fd < 0 || slot <= 0 || max <= 0 || max > BATCH_MAX || (size_t)max * (size_t)slot > buflen ||
      (size_t)max > lenslen || (size_t)max * ADDR_SLOT > addrslen) {
    napi_throw_type_error(env, NULL, "recvBatch(fd, buf, slot, lens, addrs, max, timeoutMs): buffers too small or bad arguments");
    return NULL;
  }
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)max);
  for (int i = 0; i < max; i++) {
    iov[i].iov_base = (char *)buf + (size_t)i * (size_t)slot;
    iov[i].iov_len = (size_t)slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = (char *)addrs + (size_t)i * ADDR_SLOT;
    msgs[i].msg_hdr.msg_namelen = ADDR_SLOT;
  }
  // Under load the socket is rarely empty: read first, and poll only when there was nothing.
  int n = recvmmsg(fd, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && timeout != 0) {
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, timeout);
    if (r < 0) return int_result(env, errno == EINTR ? 0 : -errno);
    if (r == 0) return int_result(env, 0);
    n = recvmmsg(fd, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
  }
  if (n < 0) return int_result(env, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno);
  int32_t *lens = lensData;
  for (int i = 0; i < n; i++) lens[i] = (int32_t)msgs[i].msg_len;
  return int_result(env, n);
}

// Datagram i goes to the sender recorded in an address slot (as recvBatch wrote it).
static void to_sender(struct mmsghdr *m, struct iovec *iov, const char *slot) {
  const struct sockaddr *sa = (const struct sockaddr *)slot;
  m->msg_hdr.msg_iov = iov;
  m->msg_hdr.msg_iovlen = 1;
  m->msg_hdr.msg_name = (void *)sa;
  m->msg_hdr.msg_namelen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

// sendmmsg until every datagram is sent or refused: a refused one is skipped so the rest still
// go. Returns how many were sent, else -errno of the first refusal when none could be.
static int send_all(int fd, struct mmsghdr *msgs, int n) {
  int done = 0, sent = 0, firstErr = 0;
  while (done < n) {
    int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
    if (r > 0) {
      done += r;
      sent += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      if (!firstErr) firstErr = r < 0 ? errno : EIO;
      done++;
    }
  }
  return sent > 0 || n == 0 ? sent : -firstErr;
}

// sendBatch(fd, bufs, addrs, idx, n) -> datagrams sent, else -errno when none could be. bufs[i]
// goes to the address in slot idx[i] of addrs. A datagram the kernel refuses (an unreachable
// or forbidden peer) is skipped rather than holding back the others, as dgram's per-send
// callbacks would only have logged it.
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t fd = -1, n = 0;
  void *addrs = NULL, *idxData = NULL;
  size_t addrslen = 0, idxlen = 0;
  uint32_t nbufs = 0;
  bool isArray = false;
  napi_typedarray_type it;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || !arg_int(env, argv[0], &fd) || napi_is_array(env, argv[1], &isArray) != napi_ok || !isArray ||
      napi_get_array_length(env, argv[1], &nbufs) != napi_ok || napi_get_buffer_info(env, argv[2], &addrs, &addrslen) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &it, &idxlen, &idxData, NULL, NULL) != napi_ok || it != napi_int32_array ||
      !arg_int(env, argv[4], &n) || fd < 0 || n < 0 || n > BATCH_MAX || (uint32_t)n > nbufs || (size_t)n > idxlen) {
    napi_throw_type_error(env, NULL, "sendBatch(fd, bufs, addrs, idx, n): bad arguments");
    return NULL;
  }
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  const int32_t *idx = idxData;
  memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)n);
  for (int i = 0; i < n; i++) {
    napi_value el;
    void *data = NULL;
    size_t len = 0;
    if (napi_get_element(env, argv[1], (uint32_t)i, &el) != napi_ok || napi_get_buffer_info(env, el, &data, &len) != napi_ok ||
        idx[i] < 0 || (size_t)(idx[i] + 1) * ADDR_SLOT > addrslen) {
      napi_throw_type_error(env, NULL, "sendBatch: bufs[i] is not a Buffer or idx[i] is outside addrs");
      return NULL;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
    to_sender(&msgs[i], &iov[i], (const char *)addrs + (size_t)idx[i] * ADDR_SLOT);
  }
  return int_result(env, send_all(fd, msgs, n));
}

// sendSlab(fd, slab, slot, lens, addrs, idx, n) -> datagrams sent, else -errno when none could be.
// Datagram i is lens[i] bytes at slab[i*slot], to the sender in slot idx[i] of addrs. sendBatch's
// twin for replies written straight into one preallocated buffer: no Buffer per reply, and one
// buffer lookup per call instead of a napi_get_element and napi_get_buffer_info per datagram.
// Refused datagrams are skipped as sendBatch skips them.
static napi_value send_slab(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  int32_t fd = -1, slot = 0, n = 0;
  void *slab = NULL, *lensData = NULL, *addrs = NULL, *idxData = NULL;
  size_t slablen = 0, lenslen = 0, addrslen = 0, idxlen = 0;
  napi_typedarray_type lt, it;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7 || !arg_int(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &slab, &slablen) != napi_ok ||
      !arg_int(env, argv[2], &slot) || napi_get_typedarray_info(env, argv[3], &lt, &lenslen, &lensData, NULL, NULL) != napi_ok ||
      lt != napi_int32_array || napi_get_buffer_info(env, argv[4], &addrs, &addrslen) != napi_ok ||
      napi_get_typedarray_info(env, argv[5], &it, &idxlen, &idxData, NULL, NULL) != napi_ok || it != napi_int32_array ||
      !arg_int(env, argv[6], &n) || fd < 0 || slot <= 0 || n < 0 || n > BATCH_MAX || (size_t)n * (size_t)slot > slablen ||
      (size_t)n > lenslen || (size_t)n > idxlen) {
    napi_throw_type_error(env, NULL, "sendSlab(fd, slab, slot, lens, addrs, idx, n): buffers too small or bad arguments");
    return NULL;
  }
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  const int32_t *lens = lensData;
  const int32_t *idx = idxData;
  memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)n);
  for (int i = 0; i < n; i++) {
    if (lens[i] < 0 || lens[i] > slot || idx[i] < 0 || (size_t)(idx[i] + 1) * ADDR_SLOT > addrslen) {
      napi_throw_type_error(env, NULL, "sendSlab: lens[i] is outside its slot or idx[i] is outside addrs");
      return NULL;
    }
    iov[i].iov_base = (char *)slab + (size_t)i * (size_t)slot;
    iov[i].iov_len = (size_t)lens[i];
    to_sender(&msgs[i], &iov[i], (const char *)addrs + (size_t)idx[i] * ADDR_SLOT);
  }
  return int_result(env, send_all(fd, msgs, n));
}

// addrString(addrs, slot) -> the sender in that slot as dgram's rinfo.address would spell it.
static napi_value addr_string(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t slot = -1;
  void *addrs = NULL;
  size_t addrslen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &addrs, &addrslen) != napi_ok || !arg_int(env, argv[1], &slot) || slot < 0 ||
      (size_t)(slot + 1) * ADDR_SLOT > addrslen) {
    napi_throw_type_error(env, NULL, "addrString(addrs, slot)");
    return NULL;
  }
  char out[INET6_ADDRSTRLEN] = "";
  const struct sockaddr *sa = (const struct sockaddr *)((char *)addrs + (size_t)slot * ADDR_SLOT);
  if (sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, sizeof out);
  else if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, sizeof out);
  napi_value r;
  napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &r);
  return r;
}

// sendConnected(fd, buf, len) -> bytes sent, else -errno. One datagram on a connected socket,
// with no address: the kernel reuses the route cached at connect() instead of looking one up
// per send, as it must when sendmsg names the peer. Lock-step TFTP sends one block per ACK, and
// each waits for this call. A full send queue answers -EAGAIN (the fd is non-blocking).
static napi_value send_connected(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1, len = 0;
  void *buf = NULL;
  size_t buflen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !arg_int(env, argv[0], &fd) || napi_get_buffer_info(env, argv[1], &buf, &buflen) != napi_ok ||
      !arg_int(env, argv[2], &len) || fd < 0 || len < 0 || (size_t)len > buflen) {
    napi_throw_type_error(env, NULL, "sendConnected(fd, buf, len): bad arguments");
    return NULL;
  }
  ssize_t r;
  do r = send(fd, buf, (size_t)len, 0);
  while (r < 0 && errno == EINTR);
  return int_result(env, r < 0 ? -errno : (int32_t)r);
}

// closeFd(fd) -> 0, else -errno.
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !arg_int(env, argv[0], &fd) || fd < 0) {
    napi_throw_type_error(env, NULL, "closeFd(fd)");
    return NULL;
  }
  return int_result(env, close(fd) == 0 ? 0 : -errno);
}

#define EXPORT(name, fn_)                                                  \
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn_, NULL, &fn); \
  napi_set_named_property(env, exports, name, fn)

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  EXPORT("udpOpen", udp_open);
  EXPORT("udpLocalPort", udp_local_port);
  EXPORT("recvBatch", recv_batch);
  EXPORT("sendBatch", send_batch);
  EXPORT("sendSlab", send_slab);
  EXPORT("addrString", addr_string);
  EXPORT("sendConnected", send_connected);
  EXPORT("closeFd", close_fd);
  napi_create_function(env, "setSegment", NAPI_AUTO_LENGTH, set_segment, NULL, &fn);
  napi_set_named_property(env, exports, "setSegment", fn);
  napi_create_function(env, "pathMtu", NAPI_AUTO_LENGTH, path_mtu, NULL, &fn);
  napi_set_named_property(env, exports, "pathMtu", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
