// UDP generic segmentation offload (Linux UDP_SEGMENT, kernel 4.18+) for Node's dgram sockets.
// Node has no setsockopt for it: with this set, one send of k TFTP packets laid end to end
// leaves as k datagrams of `size` bytes (the last may be shorter), one syscall instead of k.
// Only N-API is used, so the module loads in any Node >= 18 without a rebuild per version.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "setSegment", NAPI_AUTO_LENGTH, set_segment, NULL, &fn);
  napi_set_named_property(env, exports, "setSegment", fn);
  napi_create_function(env, "pathMtu", NAPI_AUTO_LENGTH, path_mtu, NULL, &fn);
  napi_set_named_property(env, exports, "pathMtu", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
