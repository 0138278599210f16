using System.Text;

namespace Levee.Doctor.Config;

/// <summary>
/// Splits one config line into arguments exactly as Redis does (<c>sdssplitargs()</c> in src/sds.c):
/// blanks separate arguments; "double quotes" support \n \r \t \b \a \xHH and \c escapes;
/// 'single quotes' support only \'; a closing quote must be followed by a blank or the end of the line.
/// </summary>
internal static class ConfigTokenizer
{
    /// <summary>Splits <paramref name="line"/>; returns <c>null</c> and an error message when Redis would reject it.</summary>
    public static List<string>? Split(string line, out string? error)
    {
        error = null;
        var args = new List<string>();
        var p = 0;
        var n = line.Length;
        while (true)
        {
            while (p < n && IsSpace(line[p]))
            {
                p++;
            }

            if (p >= n)
            {
                return args;
            }

            var current = new StringBuilder();
            bool inDouble = false, inSingle = false, done = false;
            while (!done)
            {
                var c = p < n ? line[p] : '\0';
                if (inDouble)
                {
                    if (c == '\\' && p + 3 < n && line[p + 1] == 'x' && IsHex(line[p + 2]) && IsHex(line[p + 3]))
                    {
                        current.Append((char)Convert.ToByte(line.Substring(p + 2, 2), 16));
                        p += 3;
                    }
                    else if (c == '\\' && p + 1 < n)
                    {
                        p++;
                        current.Append(line[p] switch
                        {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'b' => '\b',
                            'a' => '\a',
                            var other => other,
                        });
                    }
                    else if (c == '"')
                    {
                        if (p + 1 < n && !IsSpace(line[p + 1]))
                        {
                            error = $"closing quote must be followed by a space (column {p + 1})";
                            return null;
                        }

                        done = true;
                    }
                    else if (p >= n)
                    {
                        error = "unbalanced quotes (unterminated \")";
                        return null;
                    }
                    else
                    {
                        current.Append(c);
                    }
                }
                else if (inSingle)
                {
                    if (c == '\\' && p + 1 < n && line[p + 1] == '\'')
                    {
                        p++;
                        current.Append('\'');
                    }
                    else if (c == '\'')
                    {
                        if (p + 1 < n && !IsSpace(line[p + 1]))
                        {
                            error = $"closing quote must be followed by a space (column {p + 1})";
                            return null;
                        }

                        done = true;
                    }
                    else if (p >= n)
                    {
                        error = "unbalanced quotes (unterminated ')";
                        return null;
                    }
                    else
                    {
                        current.Append(c);
                    }
                }
                else
                {
                    switch (c)
                    {
                        case ' ' or '\n' or '\r' or '\t' when p < n:
                            done = true;
                            break;
                        case '\0' when p >= n:
                            done = true;
                            break;
                        case '"':
                            inDouble = true;
                            break;
                        case '\'':
                            inSingle = true;
                            break;
                        default:
                            current.Append(c);
                            break;
                    }
                }

                if (p < n)
                {
                    p++;
                }
            }

            args.Add(current.ToString());
        }
    }

    // isspace() in the C locale: space, \t, \n, \v, \f, \r.
    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);
}
