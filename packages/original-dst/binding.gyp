{
  "targets": [
    {
      "target_name": "original_dst",
      "sources": ["native/original_dst.cc", "native/tcp_keepalive.cc", "native/napi_errors.cc", "native/listen_socket.cc", "native/fd_channel.cc", "native/netlink_talk.cc", "native/splice_relay.cc", "native/tun_device.cc", "native/tcp_acceptor.cc", "native/udp_transparent.cc", "native/upstream_dial.cc", "native/reactor.cc", "native/descriptor_watch.cc", "native/owned_timer.cc", "native/owned_poll.cc", "native/original_dst_lookup.cc", "native/js_callback.cc", "native/idle_connector.cc", "native/napi_numbers.cc", "native/socket_state.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a callback into JavaScript while a worker thread
      # is torn down (Node closing the addon's handles) is dropped instead of aborting the process.
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      # Hardened as Debian builds its packages (the agent loads this as root): stack protector,
      # fortified libc calls, stack clash protection, read-only relocations bound at load.
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fstack-clash-protection"],
      "ldflags": ["-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack"]
    }
  ]
}
