#include "rules/ip.h"

#include <arpa/inet.h>
#include <strings.h>

#include <charconv>
#include <cstring>

namespace quotamilter::rules {

std::string IpAddress::str() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buffer, sizeof buffer)) return {};
    return buffer;
}

IpAddress IpAddress::masked(int prefix) const {
    IpAddress out = *this;
    const int total = bits();
    if (prefix < 0) prefix = 0;
    for (int bit = prefix; bit < total; ++bit) {
        out.bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    }
    return out;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.size() > 5 && strncasecmp(text.data(), "ipv6:", 5) == 0) text.remove_prefix(5);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    const std::string copy(text);  // inet_pton needs a terminated string
    IpAddress address;
    if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) return address;
    if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
        static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(address.bytes.data(), kMappedPrefix, 12) == 0) {
            IpAddress v4;
            std::memcpy(v4.bytes.data(), address.bytes.data() + 12, 4);
            return v4;
        }
        address.v6 = true;
        return address;
    }
    return std::nullopt;
}

std::optional<IpNetwork> parse_cidr(std::string_view text, CidrError* error) {
    auto fail = [&](CidrError why) -> std::optional<IpNetwork> {
        if (error) *error = why;
        return std::nullopt;
    };
    if (error) *error = CidrError::none;
    const std::size_t slash = text.find('/');
    const std::string_view address_text = text.substr(0, slash);
    auto address = parse_ip(address_text);
    if (!address) return fail(CidrError::malformed);
    IpNetwork network{*address, address->bits()};
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        int prefix = -1;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return fail(CidrError::malformed);
        // ::ffff:10.0.0.0/104 is the IPv4 network 10.0.0.0/8 (mapped addresses count as IPv4)
        if (!address->v6 && address_text.find(':') != std::string_view::npos) {
            if (prefix < 96 || prefix > 128) return fail(CidrError::prefix_out_of_range);
            prefix -= 96;
        }
        if (prefix < 0 || prefix > address->bits()) return fail(CidrError::prefix_out_of_range);
        network.prefix = prefix;
    }
    if (address->masked(network.prefix).bytes != address->bytes) return fail(CidrError::host_bits_set);
    return network;
}

}  // namespace quotamilter::rules
