// The client's address as xxfi_connect reports it (hostaddr may be NULL, or
// of a family we do not track), reduced to what the rules match on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

struct sockaddr;

namespace quotamilter::milter {

struct ClientAddress {
    std::optional<std::string> ip;      // "192.0.2.7", "2001:db8::1"; IPv4-mapped IPv6 shown as IPv4
    std::optional<std::uint16_t> port;  // host order
};

// NULL-safe; AF_INET and AF_INET6 only, anything else gives an empty result.
ClientAddress describe_client(const struct sockaddr* address);

}  // namespace quotamilter::milter
