/** The display name is remembered per browser profile (docs/ui.md: "pick a display name on first run"). */
import { MAX_USER_CHARS } from '../../proto/client-protocol'

const USER_KEY = 'chat.user'

export function loadUser(): string | null {
  try {
    const v = window.localStorage.getItem(USER_KEY)?.trim()
    return v ? v.slice(0, MAX_USER_CHARS) : null
  } catch {
    return null
  }
}

export function saveUser(name: string): void {
  try {
    window.localStorage.setItem(USER_KEY, name.trim().slice(0, MAX_USER_CHARS))
  } catch {
    // Storage disabled: the name then lasts for this page only.
  }
}
