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

const DETAILS_KEY = 'chat.protocolDetails'

/** "Protocol details" (seq and sender node on messages): true / false once chosen, else undefined. */
export function loadDetails(): boolean | undefined {
  try {
    const v = window.localStorage.getItem(DETAILS_KEY)
    return v === 'on' ? true : v === 'off' ? false : undefined
  } catch {
    return undefined
  }
}

export function saveDetails(on: boolean): void {
  try {
    window.localStorage.setItem(DETAILS_KEY, on ? 'on' : 'off')
  } catch {
    // Storage disabled: the choice lasts for this page only.
  }
}
