/// `/web/icon.svg`: the tab icon (a relay arrow on a rounded square).
enum WebIcon {
    static let svg = #"""
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2563eb"/><path d="M7 11h13l-4-4M25 21H12l4 4" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>
"""#
}
