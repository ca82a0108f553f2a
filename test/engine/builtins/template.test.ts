import { describe, expect, it } from 'vitest'
import { renderTemplate } from '../../../src/engine/builtins/template.js'

describe('template', () => {
  it('renders fields, nested fields and missing values', () => {
    expect(
      renderTemplate('hi {{.name}} from {{.org.name}}', { name: 'ann', org: { name: 'x' } }),
    ).toBe('hi ann from x')
    expect(renderTemplate('{{.nope}}', {})).toBe('<no value>')
    expect(
      renderTemplate('{{.n}} {{.b}} {{.o}} {{.a}}', { n: 1.5, b: true, o: { k: 1 }, a: [1, 'x'] }),
    ).toBe('1.5 true map[k:1] [1 x]')
  })

  it('supports if/else, range with variables and trimming', () => {
    expect(renderTemplate('{{if .ok}}yes{{else}}no{{end}}', { ok: false })).toBe('no')
    expect(renderTemplate('{{range .xs}}<{{.}}>{{end}}', { xs: ['a', 'b'] })).toBe('<a><b>')
    expect(renderTemplate('{{range $i, $v := .xs}}{{$i}}={{$v}} {{end}}', { xs: ['a', 'b'] })).toBe(
      '0=a 1=b ',
    )
    expect(renderTemplate('a  {{- .x -}}  b', { x: 'X' })).toBe('aXb')
    expect(renderTemplate('{{range .xs}}x{{else}}empty{{end}}', { xs: [] })).toBe('empty')
  })

  it('fails on broken templates', () => {
    expect(() => renderTemplate('{{if .x}}', { x: 1 })).toThrow(
      'strings.render_template: template: unexpected EOF',
    )
    expect(() => renderTemplate('{{.x | len}}', { x: 1 })).toThrow('unsupported action')
  })
})
