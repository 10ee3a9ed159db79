using System.Globalization;
using System.Text;

namespace FalconMamba.Tokenization.ChatTemplates;

internal enum TokenKind { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Op, Eof }

/// <summary>One lexical token; <see cref="Value"/> is the text, name, operator, or the parsed literal.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, object? Value, int Line, int Column);

/// <summary>
/// Splits template text into text runs and the tokens inside <c>{{ }}</c> / <c>{% %}</c> (comments <c>{# #}</c> are
/// dropped), applying whitespace control the way Jinja2's lexer does with the options transformers sets
/// (<c>trim_blocks=True, lstrip_blocks=True</c>; jinja2/lexer.py <c>tokeniter</c>):
/// <list type="bullet">
/// <item><c>{%-</c>/<c>{{-</c>/<c>{#-</c> strip all whitespace before the tag; <c>-%}</c>/<c>-}}</c>/<c>-#}</c> all whitespace after it.</item>
/// <item>lstrip_blocks: spaces/tabs between a line start and <c>{%</c>/<c>{#</c> are removed (not before <c>{{</c>; <c>{%+</c> keeps them).</item>
/// <item>trim_blocks: one newline right after <c>%}</c>/<c>#}</c> is removed (not after <c>}}</c>; <c>+%}</c> keeps it).</item>
/// <item>A single trailing newline of the whole template is dropped (Jinja2 <c>keep_trailing_newline=False</c>).</item>
/// </list>
/// </summary>
internal sealed class Lexer
{
    readonly string _src;
    int _pos, _line = 1, _col = 1;
    readonly List<Token> _tokens = [];
    int _braceDepth;

    Lexer(string src) => _src = src;

    public static List<Token> Tokenize(string template)
    {
        if (template.EndsWith("\r\n", StringComparison.Ordinal)) template = template[..^2];
        else if (template.EndsWith('\n')) template = template[..^1];
        var lx = new Lexer(template);
        lx.Run();
        return lx._tokens;
    }

    TemplateException Error(string msg, int line, int col) => new(msg, line, col);

    void Advance(int n)
    {
        for (int i = 0; i < n; i++)
        {
            if (_src[_pos] == '\n') { _line++; _col = 1; } else _col++;
            _pos++;
        }
    }

    void Run()
    {
        bool lineStarting = true;      // jinja2: the previous match ended with "\n" (or we are at the start)
        bool stripNextLeading = false; // previous tag ended with '-'
        bool trimNextNewline = false;  // previous tag was a block/comment end without '+'
        while (_pos < _src.Length)
        {
            int open = FindTagOpen(_pos);
            int textEnd = open < 0 ? _src.Length : open;
            int textLine = _line, textCol = _col;
            string text = _src[_pos..textEnd];
            Advance(textEnd - _pos);

            // Modifications caused by the tag before the text.
            if (stripNextLeading) text = text.TrimStart();
            else if (trimNextNewline)
            {
                if (text.StartsWith("\r\n", StringComparison.Ordinal)) text = text[2..];
                else if (text.StartsWith('\n')) text = text[1..];
            }
            // Modifications caused by the tag after the text.
            if (open >= 0)
            {
                char kind = _src[open + 1];
                char sign = open + 2 < _src.Length ? _src[open + 2] : '\0';
                if (sign == '-') text = text.TrimEnd();
                else if (sign != '+' && kind != '{')
                {
                    int lpos = text.LastIndexOf('\n') + 1;
                    if ((lpos > 0 || lineStarting) && lpos < text.Length && IsAllWhitespace(text, lpos)) text = text[..lpos];
                }
            }
            if (text.Length > 0) _tokens.Add(new Token(TokenKind.Text, text, text, textLine, textCol));
            if (open < 0) break;

            char k = _src[open + 1];
            int tagLine = _line, tagCol = _col;
            Advance(2);
            if (_pos < _src.Length && (_src[_pos] == '-' || _src[_pos] == '+')) Advance(1);
            if (k == '#')
            {
                int close = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
                if (close < 0) throw Error("unterminated comment: '{#' has no closing '#}'", tagLine, tagCol);
                char before = close > _pos ? _src[close - 1] : '\0';
                Advance(close + 2 - _pos);
                stripNextLeading = before == '-';
                trimNextNewline = before != '+';
            }
            else
            {
                bool isVar = k == '{';
                _tokens.Add(new Token(isVar ? TokenKind.VarBegin : TokenKind.BlockBegin, isVar ? "{{" : "{%", null, tagLine, tagCol));
                char endSign = LexInside(isVar, tagLine, tagCol);
                stripNextLeading = endSign == '-';
                trimNextNewline = !isVar && endSign != '+';
            }
            // jinja2 consumes the trimmed newline with the tag end, so the next text then starts a line.
            lineStarting = trimNextNewline && !stripNextLeading && _pos < _src.Length && _src[_pos] == '\n';
        }
        _tokens.Add(new Token(TokenKind.Eof, "", null, _line, _col));
    }

    static bool IsAllWhitespace(string s, int from)
    {
        for (int i = from; i < s.Length; i++) if (!char.IsWhiteSpace(s[i])) return false;
        return true;
    }

    int FindTagOpen(int from)
    {
        for (int i = from; i + 1 < _src.Length; i++)
            if (_src[i] == '{' && (_src[i + 1] == '{' || _src[i + 1] == '%' || _src[i + 1] == '#')) return i;
        return -1;
    }

    /// <summary>Lexes expression tokens up to the closing <c>}}</c>/<c>%}</c>; returns the whitespace sign before it.</summary>
    char LexInside(bool isVar, int tagLine, int tagCol)
    {
        string close = isVar ? "}}" : "%}";
        _braceDepth = 0;
        while (true)
        {
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) Advance(1);
            if (_pos >= _src.Length)
                throw Error($"unterminated tag: '{(isVar ? "{{" : "{%")}' has no closing '{close}'", tagLine, tagCol);
            int line = _line, col = _col;
            char c = _src[_pos];
            // Closing delimiter, optionally with a whitespace-control sign.
            if ((c == '-' || c == '+') && At(_pos + 1, close) && _braceDepth == 0)
            {
                Advance(3);
                _tokens.Add(new Token(isVar ? TokenKind.VarEnd : TokenKind.BlockEnd, close, null, line, col));
                return c;
            }
            if (At(_pos, close) && (_braceDepth == 0 || !isVar))
            {
                Advance(2);
                _tokens.Add(new Token(isVar ? TokenKind.VarEnd : TokenKind.BlockEnd, close, null, line, col));
                return '\0';
            }
            if (At(_pos, isVar ? "%}" : "}}") && _braceDepth == 0 && !isVar)
                throw Error($"unexpected '}}}}' inside a '{{%' tag", line, col);
            if (char.IsLetter(c) || c == '_')
            {
                int s = _pos;
                while (_pos < _src.Length && (char.IsLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) Advance(1);
                string name = _src[s.._pos];
                _tokens.Add(new Token(TokenKind.Name, name, name, line, col));
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                LexNumber(line, col);
                continue;
            }
            if (c == '\'' || c == '"')
            {
                string str = LexString(c, line, col);
                _tokens.Add(new Token(TokenKind.String, str, str, line, col));
                continue;
            }
            string? op = MatchOp();
            if (op == null) throw Error($"unexpected character '{c}'", line, col);
            if (op == "{") _braceDepth++;
            else if (op == "}") _braceDepth--;
            Advance(op.Length);
            _tokens.Add(new Token(TokenKind.Op, op, op, line, col));
        }
    }

    bool At(int i, string s) => string.CompareOrdinal(_src, i, s, 0, s.Length) == 0 && i + s.Length <= _src.Length;

    static readonly string[] Ops =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    string? MatchOp()
    {
        foreach (var op in Ops) if (At(_pos, op)) return op;
        return null;
    }

    void LexNumber(int line, int col)
    {
        int s = _pos;
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) Advance(1);
        bool isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            Advance(1);
            while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) Advance(1);
        }
        if (_pos < _src.Length && (_src[_pos] == 'e' || _src[_pos] == 'E'))
        {
            int save = _pos;
            int j = _pos + 1;
            if (j < _src.Length && (_src[j] == '+' || _src[j] == '-')) j++;
            if (j < _src.Length && char.IsAsciiDigit(_src[j]))
            {
                isFloat = true;
                Advance(j - _pos);
                while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) Advance(1);
            }
            else _pos = save;
        }
        string text = _src[s.._pos].Replace("_", "");
        if (isFloat)
            _tokens.Add(new Token(TokenKind.Float, text, double.Parse(text, CultureInfo.InvariantCulture), line, col));
        else if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            _tokens.Add(new Token(TokenKind.Integer, text, v, line, col));
        else throw Error($"integer literal {text} is too large", line, col);
    }

    /// <summary>A quoted string with Python escapes (<c>\n \t \r \\ \' \" \b \f \v \0 \xHH \uXXXX \UXXXXXXXX</c>; unknown escapes are kept).</summary>
    string LexString(char quote, int line, int col)
    {
        Advance(1);
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length) throw Error("unterminated string literal", line, col);
            char c = _src[_pos];
            if (c == quote) { Advance(1); return sb.ToString(); }
            if (c != '\\') { sb.Append(c); Advance(1); continue; }
            if (_pos + 1 >= _src.Length) throw Error("unterminated string literal", line, col);
            char e = _src[_pos + 1];
            Advance(2);
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '0': sb.Append('\0'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': break; // line continuation
                case 'x': sb.Append(HexEscape(2, line, col)); break;
                case 'u': sb.Append(HexEscape(4, line, col)); break;
                case 'U': sb.Append(HexEscape(8, line, col)); break;
                default: sb.Append('\\').Append(e); break;
            }
        }
    }

    string HexEscape(int digits, int line, int col)
    {
        if (_pos + digits > _src.Length || !int.TryParse(_src.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int cp))
            throw Error($"bad \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in string literal", line, col);
        Advance(digits);
        return char.ConvertFromUtf32(cp);
    }
}
